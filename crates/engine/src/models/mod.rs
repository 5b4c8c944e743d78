//! BERT-family encoders truncated after `num_layers` layers, one family per file.
//!
//! bert_score truncates `model.encoder.layer` to its first `num_layers` modules and takes the
//! truncated model's last hidden state, so layer 0 is the embedding output. Each encoder here
//! loads only the layers it keeps.

use candle_core::Tensor;

/// An encoder that maps token ids to the hidden states of its last kept layer.
pub trait Encoder: Send + Sync {
    /// `input_ids` and `attention_mask` are `(batch, seq)` u32 tensors (mask: 1 = token, 0 = padding,
    /// padding on the right). Returns `(batch, seq, hidden)` f32 hidden states.
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor>;

    /// Width of the hidden states.
    fn hidden_size(&self) -> usize;
}

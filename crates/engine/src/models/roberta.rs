//! RoBERTa and XLM-RoBERTa (transformers' `RobertaModel`, `XLMRobertaModel`), truncated after
//! `num_layers` layers.
//!
//! The layers are BERT's; only the position ids differ: they count from `padding_idx + 1`
//! (`create_position_ids_from_input_ids`), which is why the position table has
//! `max_position_embeddings = 514` for 512 usable positions.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::Encoder;
use super::bert::{BertConfig, LayerStack, PositionIds};
use super::packed::PostLnWeights;

/// `RobertaModel` truncated after `num_layers` layers.
pub struct RobertaEncoder {
    stack: LayerStack,
}

impl RobertaEncoder {
    /// Loads the embeddings and the first `num_layers` layers.
    pub fn load(
        vb: VarBuilder,
        config: &BertConfig,
        num_layers: usize,
    ) -> candle_core::Result<Self> {
        let padding_idx = config.pad_token_id.unwrap_or(1);
        Ok(Self {
            stack: LayerStack::load(
                vb,
                config,
                num_layers,
                PositionIds::AfterPadding { padding_idx },
            )?,
        })
    }
}

impl Encoder for RobertaEncoder {
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        self.stack.forward(input_ids, attention_mask)
    }

    fn forward_all_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        self.stack.forward_all_layers(input_ids, attention_mask)
    }

    fn hidden_size(&self) -> usize {
        self.stack.hidden_size()
    }

    fn post_ln_weights(&self) -> Option<candle_core::Result<PostLnWeights>> {
        self.stack.post_ln_weights()
    }
}

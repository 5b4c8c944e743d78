//! The CPU fast path for Qwen3 (see `qwen3.rs` for the function): the texts of a batch laid end to
//! end as token rows, no padding. Per layer: RMSNorm into a scratch copy, q/k/v as one packed
//! product, RMSNorm of each query and key head and the rotary embedding in place, causal
//! grouped-query attention over each text's own rows, `o_proj` with the residual fused,
//! RMSNorm, gate and up as one product, SwiGLU, `down` with the residual fused.
//!
//! Linear layers run in the chosen [`WeightFormat`]; norms, rotary embedding, attention, SiLU and
//! residuals stay f32 in every format.

use super::packed::spans_of;
use std::sync::Mutex;

use bertscore_kernels::{
    AttentionMask, AttentionShape, Epilogue, GateActivation, GluInput, Isa, PackedLinear, Rope,
    WeightFormat, attention_masked, gated, rms_norm_heads, rms_norm_rows,
};

use super::FastEncoder;

/// A Qwen3 model's weights as f32 arrays (PyTorch's `out × in` for linear layers).
pub(crate) struct Qwen3Weights {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f32,
    pub rope_theta: f32,
    /// `vocab × hidden`.
    pub embed: Vec<f32>,
    pub layers: Vec<Qwen3LayerWeights>,
    /// The final norm.
    pub norm: Vec<f32>,
}

pub(crate) struct Qwen3LayerWeights {
    pub input_norm: Vec<f32>,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    /// q, k and v biases side by side (`attention_bias`).
    pub qkv_bias: Option<Vec<f32>>,
    pub o: Vec<f32>,
    pub o_bias: Option<Vec<f32>>,
    pub q_norm: Vec<f32>,
    pub k_norm: Vec<f32>,
    pub post_norm: Vec<f32>,
    pub gate: Vec<f32>,
    pub up: Vec<f32>,
    pub down: Vec<f32>,
}

struct PackedLayer {
    input_norm: Vec<f32>,
    /// `hidden → (heads + 2·kv_heads)·head_dim`: queries, keys, values.
    qkv: PackedLinear,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    o: PackedLinear,
    post_norm: Vec<f32>,
    /// `hidden → 2·intermediate`: gate, then up.
    gate_up: PackedLinear,
    down: PackedLinear,
}

/// Qwen3 on the CPU kernels.
pub(crate) struct PackedQwen3 {
    hidden: usize,
    shape: AttentionShape,
    eps: f32,
    embed: Vec<f32>,
    layers: Vec<PackedLayer>,
    norm: Vec<f32>,
    rope: Rope,
    isa: Isa,
    workspace: Mutex<Workspace>,
}

/// One batch's activations, kept between batches.
#[derive(Default)]
struct Workspace {
    hidden: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    gate_up: Vec<f32>,
    inner: Vec<f32>,
    half_input: Vec<u32>,
}

fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    buffer
}

impl PackedQwen3 {
    pub(crate) fn new(weights: Qwen3Weights, format: WeightFormat) -> Self {
        let isa = Isa::detect();
        let shape = AttentionShape {
            heads: weights.heads,
            kv_heads: weights.kv_heads,
            head_dim: weights.head_dim,
        };
        let h = weights.hidden;
        let pack = |weight: &[f32], bias: Option<&[f32]>, in_features: usize| {
            let out_features = weight.len() / in_features;
            PackedLinear::new(weight, bias, in_features, out_features, format, isa)
        };
        let layers = weights
            .layers
            .into_iter()
            .map(|l| {
                let inner = l.gate.len() / h;
                PackedLayer {
                    qkv: pack(&[&l.q[..], &l.k, &l.v].concat(), l.qkv_bias.as_deref(), h),
                    o: pack(&l.o, l.o_bias.as_deref(), shape.context_width()),
                    gate_up: pack(&[&l.gate[..], &l.up].concat(), None, h),
                    down: pack(&l.down, None, inner),
                    input_norm: l.input_norm,
                    q_norm: l.q_norm,
                    k_norm: l.k_norm,
                    post_norm: l.post_norm,
                }
            })
            .collect();
        Self {
            hidden: h,
            shape,
            eps: weights.eps,
            embed: weights.embed,
            layers,
            norm: weights.norm,
            rope: Rope::new(weights.rope_theta, weights.head_dim),
            isa,
            workspace: Mutex::new(Workspace::default()),
        }
    }

    /// Runs the texts; `each(layer, text, rows)` for the layers `wanted` says.
    fn run(
        &self,
        texts: &[&[u32]],
        all: bool,
        each: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> candle_core::Result<()> {
        let (spans, rows) = spans_of(texts);
        let (h, isa, eps) = (self.hidden, self.isa, self.eps);
        let mut shared = self.workspace.try_lock();
        let mut own = Workspace::default();
        let ws: &mut Workspace = match shared.as_deref_mut() {
            Ok(ws) => ws,
            Err(_) => &mut own,
        };
        let inner_width = self.layers.first().map_or(0, |l| l.down.in_features());
        let Workspace {
            hidden,
            normed,
            qkv,
            context,
            attended,
            gate_up,
            inner,
            half_input,
        } = ws;
        let hidden = sized(hidden, rows * h);
        let normed = sized(normed, rows * h);
        let qkv_width = self.shape.qkv_width();
        let qkv = sized(qkv, rows * qkv_width);
        let context = sized(context, rows * self.shape.context_width());
        let attended = sized(attended, rows * h);
        let gate_up = sized(gate_up, rows * 2 * inner_width);
        let inner = sized(inner, rows * inner_width);
        self.embed(texts, hidden)?;
        let mut hand_out = |layer: usize, states: &[f32]| {
            for (index, span) in spans.iter().enumerate() {
                each(
                    layer,
                    index,
                    &states[span.start * h..(span.start + span.len) * h],
                );
            }
        };
        let (d, heads, kv_heads) = (self.shape.head_dim, self.shape.heads, self.shape.kv_heads);
        for (number, layer) in self.layers.iter().enumerate() {
            if all {
                hand_out(number, hidden);
            }
            rms_norm_rows(hidden, normed, &layer.input_norm, eps, isa);
            layer
                .qkv
                .forward_with_scratch(normed, qkv, Epilogue::Bias, half_input);
            rms_norm_heads(qkv, qkv_width, 0..heads * d, &layer.q_norm, eps, isa);
            let keys = heads * d..(heads + kv_heads) * d;
            rms_norm_heads(qkv, qkv_width, keys, &layer.k_norm, eps, isa);
            self.rope
                .apply(qkv, qkv_width, 0..(heads + kv_heads) * d, &spans, isa);
            attention_masked(qkv, self.shape, AttentionMask::Causal, &spans, context, isa);
            layer.o.forward_with_scratch(
                context,
                attended,
                Epilogue::BiasResidual(hidden),
                half_input,
            );
            rms_norm_rows(attended, normed, &layer.post_norm, eps, isa);
            layer
                .gate_up
                .forward_with_scratch(normed, gate_up, Epilogue::Bias, half_input);
            gated(
                GluInput::Fused(gate_up),
                inner,
                inner_width,
                GateActivation::Silu,
                isa,
            );
            layer.down.forward_with_scratch(
                inner,
                hidden,
                Epilogue::BiasResidual(attended),
                half_input,
            );
        }
        rms_norm_rows(hidden, normed, &self.norm, eps, isa);
        hand_out(self.layers.len(), normed);
        Ok(())
    }

    /// The token embeddings of every row (unscaled), into `out`.
    fn embed(&self, texts: &[&[u32]], out: &mut [f32]) -> candle_core::Result<()> {
        let h = self.hidden;
        let vocab = self.embed.len() / h;
        for (row, &id) in texts.iter().flat_map(|t| t.iter()).enumerate() {
            if id as usize >= vocab {
                return Err(candle_core::Error::Msg(format!(
                    "token id {id} is outside the model's embedding table ({vocab} tokens)"
                )));
            }
            out[row * h..(row + 1) * h]
                .copy_from_slice(&self.embed[id as usize * h..(id as usize + 1) * h]);
        }
        Ok(())
    }
}

impl FastEncoder for PackedQwen3 {
    fn hidden_size(&self) -> usize {
        self.hidden
    }

    fn forward(
        &self,
        texts: &[&[u32]],
        each: &mut dyn FnMut(usize, &[f32]),
    ) -> candle_core::Result<()> {
        self.run(texts, false, &mut |_, index, rows| each(index, rows))
    }

    fn forward_layers(
        &self,
        texts: &[&[u32]],
        each: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> candle_core::Result<()> {
        self.run(texts, true, each)
    }
}

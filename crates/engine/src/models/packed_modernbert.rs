//! The CPU fast path for ModernBERT (see `modernbert.rs` for the function), a pre-LayerNorm
//! encoder: the texts of a batch laid end to end as token rows, no padding. Per layer: LayerNorm
//! into a scratch copy (not in layer 0), `Wqkv` as one packed product, the rotary embedding of the
//! layer's θ in place on the queries and keys, attention over each text's own rows (every key on
//! global layers, a sliding window of `local_attention / 2` on each side on local ones, only the
//! window computed), `Wo` with the residual fused, LayerNorm, `Wi` (`[a | g]`), GeGLU, the MLP's
//! `Wo` with the residual fused. Then `final_norm`.
//!
//! Linear layers run in the chosen [`WeightFormat`]; norms, rotary embedding, attention and the
//! gate stay f32. As in the post-LN path, the reduced precisions take GELU's tanh form.

use super::packed::spans_of;
use std::sync::Mutex;

use bertscore_kernels::{
    AttentionMask, AttentionShape, Epilogue, GateActivation, GluInput, Isa, PackedLinear, Rope,
    WeightFormat, attention_masked, gated, layer_norm_rows,
};

use super::packed::{LinearWeights, NormWeights};
use super::{Activation, FastEncoder};

/// A ModernBERT model's weights as f32 arrays.
pub(crate) struct ModernBertWeights {
    pub hidden: usize,
    pub heads: usize,
    /// A local layer's keys: within this many positions of the query.
    pub half_window: usize,
    pub activation: Activation,
    pub global_rope_theta: f32,
    pub local_rope_theta: f32,
    /// `vocab × hidden`.
    pub embed: Vec<f32>,
    pub embed_norm: NormWeights,
    pub layers: Vec<ModernBertLayerWeights>,
    pub final_norm: NormWeights,
}

pub(crate) struct ModernBertLayerWeights {
    /// `None` in layer 0.
    pub attn_norm: Option<NormWeights>,
    pub wqkv: LinearWeights,
    pub wo: LinearWeights,
    pub mlp_norm: NormWeights,
    /// `hidden → 2·intermediate`: `[a | g]`.
    pub wi: LinearWeights,
    pub mlp_wo: LinearWeights,
    pub global: bool,
}

struct PackedLayer {
    attn_norm: Option<NormWeights>,
    wqkv: PackedLinear,
    wo: PackedLinear,
    mlp_norm: NormWeights,
    wi: PackedLinear,
    mlp_wo: PackedLinear,
    global: bool,
}

/// ModernBERT on the CPU kernels.
pub(crate) struct PackedModernBert {
    hidden: usize,
    shape: AttentionShape,
    half_window: usize,
    gate: GateActivation,
    embed: Vec<f32>,
    embed_norm: NormWeights,
    layers: Vec<PackedLayer>,
    final_norm: NormWeights,
    global_rope: Rope,
    local_rope: Rope,
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
    gate_in: Vec<f32>,
    inner: Vec<f32>,
    half_input: Vec<u32>,
}

fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    buffer
}

/// `out = LayerNorm(x)`.
fn normalized(x: &[f32], out: &mut [f32], norm: &NormWeights, isa: Isa) {
    out.copy_from_slice(x);
    layer_norm_rows(out, &norm.gamma, &norm.beta, norm.eps, isa);
}

impl PackedModernBert {
    pub(crate) fn new(weights: ModernBertWeights, format: WeightFormat) -> Self {
        let isa = Isa::detect();
        let shape = AttentionShape::multi_head(weights.hidden, weights.heads);
        let pack = |l: &LinearWeights| {
            PackedLinear::new(
                &l.weight,
                Some(&l.bias),
                l.in_features,
                l.out_features,
                format,
                isa,
            )
        };
        let layers = weights
            .layers
            .into_iter()
            .map(|l| PackedLayer {
                wqkv: pack(&l.wqkv),
                wo: pack(&l.wo),
                wi: pack(&l.wi),
                mlp_wo: pack(&l.mlp_wo),
                attn_norm: l.attn_norm,
                mlp_norm: l.mlp_norm,
                global: l.global,
            })
            .collect();
        let gate = match (weights.activation, format) {
            (Activation::Silu, _) => GateActivation::Silu,
            (Activation::GeluErf, WeightFormat::F32) => GateActivation::Gelu,
            // The tanh form, as the post-LN path's reduced precisions (and gelu_pytorch_tanh).
            _ => GateActivation::GeluTanh,
        };
        let head_dim = shape.head_dim;
        Self {
            hidden: weights.hidden,
            shape,
            half_window: weights.half_window,
            gate,
            embed: weights.embed,
            embed_norm: weights.embed_norm,
            layers,
            final_norm: weights.final_norm,
            global_rope: Rope::new(weights.global_rope_theta, head_dim),
            local_rope: Rope::new(weights.local_rope_theta, head_dim),
            isa,
            workspace: Mutex::new(Workspace::default()),
        }
    }

    /// Runs the texts; with `all`, `each(k, text, rows)` for the embedding output (k = 0) and every
    /// layer's output (the last before the final norm); else `each(layers, text, rows)` for the
    /// last layer's output after the final norm.
    fn run(
        &self,
        texts: &[&[u32]],
        all: bool,
        each: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> candle_core::Result<()> {
        let (spans, rows) = spans_of(texts);
        let (h, isa) = (self.hidden, self.isa);
        let mut shared = self.workspace.try_lock();
        let mut own = Workspace::default();
        let ws: &mut Workspace = match shared.as_deref_mut() {
            Ok(ws) => ws,
            Err(_) => &mut own,
        };
        let inner_width = self.layers.first().map_or(0, |l| l.mlp_wo.in_features());
        let Workspace {
            hidden,
            normed,
            qkv,
            context,
            attended,
            gate_in,
            inner,
            half_input,
        } = ws;
        let hidden = sized(hidden, rows * h);
        let normed = sized(normed, rows * h);
        let qkv = sized(qkv, rows * 3 * h);
        let context = sized(context, rows * h);
        let attended = sized(attended, rows * h);
        let gate_in = sized(gate_in, rows * 2 * inner_width);
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
        if all {
            hand_out(0, hidden);
        }
        for (number, layer) in self.layers.iter().enumerate() {
            let attention_input: &[f32] = match &layer.attn_norm {
                Some(norm) => {
                    normalized(hidden, normed, norm, isa);
                    &*normed
                }
                None => &*hidden,
            };
            layer
                .wqkv
                .forward_with_scratch(attention_input, qkv, Epilogue::Bias, half_input);
            let (rope, mask) = if layer.global {
                (&self.global_rope, AttentionMask::Full)
            } else {
                (
                    &self.local_rope,
                    AttentionMask::SlidingWindow(self.half_window),
                )
            };
            rope.apply(qkv, 3 * h, 0..2 * h, &spans, isa);
            attention_masked(qkv, self.shape, mask, &spans, context, isa);
            layer.wo.forward_with_scratch(
                context,
                attended,
                Epilogue::BiasResidual(hidden),
                half_input,
            );
            normalized(attended, normed, &layer.mlp_norm, isa);
            layer
                .wi
                .forward_with_scratch(normed, gate_in, Epilogue::Bias, half_input);
            gated(GluInput::Fused(gate_in), inner, inner_width, self.gate, isa);
            layer.mlp_wo.forward_with_scratch(
                inner,
                hidden,
                Epilogue::BiasResidual(attended),
                half_input,
            );
            if all {
                hand_out(number + 1, hidden);
            }
        }
        if !all {
            normalized(hidden, normed, &self.final_norm, isa);
            hand_out(self.layers.len(), normed);
        }
        Ok(())
    }

    /// LayerNorm(token embeddings) of every row, into `out`.
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
        let norm = &self.embed_norm;
        layer_norm_rows(out, &norm.gamma, &norm.beta, norm.eps, self.isa);
        Ok(())
    }
}

impl FastEncoder for PackedModernBert {
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

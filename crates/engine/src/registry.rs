//! bert_score's model tables, carried over as data (`models/*.tsv` at the workspace root, embedded at
//! compile time): the recommended layer per model (`model2layers`) and the default model per
//! language (`lang2model`), plus the settings hash (`get_hash`).

use crate::IdfMode;

const MODEL2LAYERS: &str = include_str!("../../../models/model2layers.tsv");
const LANG2MODEL: &str = include_str!("../../../models/lang2model.tsv");

/// What bert_score 0.3.13 reports as its version in hashes. The 0.3.13 release still says
/// `__version__ = "0.3.12"` (the number was not bumped), so its hashes read `version=0.3.12`.
pub const BERT_SCORE_VERSION: &str = "0.3.12";
/// The transformers version our parity fixtures were produced with; part of the hash.
pub const TRANSFORMERS_VERSION: &str = "4.46.3";

/// Rows of a `key<TAB>value` file with `#` comments.
fn rows(table: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// The recommended layer for `model` (bert_score's `model2layers[model]`), if the table has it.
pub fn default_layer(model: &str) -> Option<usize> {
    rows(MODEL2LAYERS)
        .find(|(name, _)| *name == model)
        .and_then(|(_, layer)| layer.parse().ok())
}

/// Every model the layer table knows, with its layer.
pub fn known_models() -> impl Iterator<Item = (&'static str, usize)> {
    rows(MODEL2LAYERS).filter_map(|(name, layer)| Some((name, layer.parse().ok()?)))
}

/// bert_score's default model for a language (`lang2model[lang.lower()]`); languages not listed get
/// `bert-base-multilingual-cased`.
pub fn default_model_for_language(lang: &str) -> &'static str {
    let lang = lang.to_lowercase();
    rows(LANG2MODEL)
        .find(|(l, _)| *l == lang)
        .or_else(|| rows(LANG2MODEL).find(|(l, _)| *l == "*"))
        .map(|(_, model)| model)
        .unwrap_or("bert-base-multilingual-cased")
}

/// Where a rescaling baseline came from; only the hash tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineOrigin {
    /// bert_score's own file for the language and model.
    Builtin,
    /// A user's file (bert_score's `baseline_path`).
    Custom,
}

/// bert_score's `get_hash`: `{model}_L{layers}{_idf|_no-idf}_version={v}(hug_trans={t})`, then
/// `-rescaled` or `-custom-rescaled`, then `_fast-tokenizer` (we always use the fast tokenizer).
pub fn settings_hash(
    model: &str,
    num_layers: usize,
    idf: &IdfMode,
    baseline: Option<BaselineOrigin>,
) -> String {
    let idf = if matches!(idf, IdfMode::Off) {
        "_no-idf"
    } else {
        "_idf"
    };
    let mut hash = format!(
        "{model}_L{num_layers}{idf}_version={BERT_SCORE_VERSION}(hug_trans={TRANSFORMERS_VERSION})"
    );
    match baseline {
        Some(BaselineOrigin::Builtin) => hash.push_str("-rescaled"),
        Some(BaselineOrigin::Custom) => hash.push_str("-custom-rescaled"),
        None => {}
    }
    hash.push_str("_fast-tokenizer");
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_table_has_bert_score_entries_and_our_default() {
        assert_eq!(default_layer("roberta-large"), Some(17));
        assert_eq!(default_layer("microsoft/deberta-xlarge-mnli"), Some(40));
        assert_eq!(default_layer("amazon/bort"), Some(0));
        assert_eq!(
            default_layer("sentence-transformers/all-MiniLM-L6-v2"),
            Some(6)
        );
        assert_eq!(default_layer("all-MiniLM-L6-v2"), Some(6));
        assert_eq!(default_layer("scibert-scivocab-uncased"), None);
        assert_eq!(known_models().count(), 142);
    }

    #[test]
    fn languages_default_like_bert_score() {
        assert_eq!(default_model_for_language("EN"), "roberta-large");
        assert_eq!(default_model_for_language("zh"), "bert-base-chinese");
        assert_eq!(
            default_model_for_language("de"),
            "bert-base-multilingual-cased"
        );
    }

    #[test]
    fn hash_format() {
        assert_eq!(
            settings_hash(
                "roberta-large",
                17,
                &IdfMode::Off,
                Some(BaselineOrigin::Builtin)
            ),
            "roberta-large_L17_no-idf_version=0.3.12(hug_trans=4.46.3)-rescaled_fast-tokenizer"
        );
        assert_eq!(
            settings_hash("x", 2, &IdfMode::References, Some(BaselineOrigin::Custom)),
            "x_L2_idf_version=0.3.12(hug_trans=4.46.3)-custom-rescaled_fast-tokenizer"
        );
        assert_eq!(
            settings_hash("x", 2, &IdfMode::Corpus(vec![]), None),
            "x_L2_idf_version=0.3.12(hug_trans=4.46.3)_fast-tokenizer"
        );
    }
}

//! TODO: Encoder trait; one file per family: bert.rs, roberta.rs, distilbert.rs, deberta_v2.rs

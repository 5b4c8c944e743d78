//! Long texts are tokenized from a prefix when they are truncated: the ids must be those of the whole text
//! tokenized and then truncated, on every parity tokenizer (WordPiece, byte-level BPE, SentencePiece).

use std::path::{Path, PathBuf};

use bertscore_engine::tokenize::{TextTokenizer, truncation_prefix};

fn model_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity/models");
    [
        "tiny-bert",
        "tiny-distilbert",
        "tiny-roberta",
        "tiny-deberta-v2",
    ]
    .iter()
    .map(|name| root.join(name))
    .collect()
}

fn load(dir: &Path) -> TextTokenizer {
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    TextTokenizer::load(dir, &serde_json::from_str(&config).unwrap()).unwrap()
}

/// Deterministic texts of about `bytes` bytes mixing words, punctuation, accents, CJK, emoji, digits, runs of
/// spaces, tabs and newlines, and long stretches without a space.
fn texts(bytes: usize) -> Vec<String> {
    const PIECES: [&str; 24] = [
        "the",
        "Quick",
        "brown",
        "fox's",
        "jumped,",
        "over",
        "naïve",
        "café",
        "déjà-vu",
        "東京都",
        "👍🏽",
        "12,345.67",
        "e-mail@x.org",
        "(parenthesis)",
        "don't",
        "ﬁnance",
        "Ελληνικά",
        "\t",
        "\n",
        "  ",
        "supercalifragilisticexpialidocious",
        "...",
        "«quoted»",
        "x\u{301}",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    for variant in 0..4 {
        let mut text = String::new();
        while text.len() < bytes {
            let piece = PIECES[(next() % PIECES.len() as u64) as usize];
            text.push_str(piece);
            match variant {
                // Words glued together for long stretches: few places to cut.
                3 if next() % 50 != 0 => {}
                _ => text.push(if next() % 7 == 0 { '\t' } else { ' ' }),
            }
        }
        out.push(text);
    }
    // One very long word first, then ordinary text.
    out.push(format!("{} {}", "ab".repeat(bytes / 4), out[0]));
    out
}

#[test]
fn prefix_tokenization_gives_the_ids_of_the_whole_text_truncated() {
    for dir in model_dirs() {
        let truncating = load(&dir);
        let whole = load(&dir).without_truncation();
        let max = truncating.max_length();
        for text in texts(200_000) {
            let expected = whole.encode(&text).unwrap();
            assert!(expected.ids.len() > max, "{}: a long text", dir.display());
            let mut truncated = expected.ids[..max - 1].to_vec();
            truncated.push(*expected.ids.last().unwrap());
            let got = truncating.encode(&text).unwrap();
            assert!(got.truncated);
            assert_eq!(got.ids, truncated, "{}", dir.display());
        }
        // Texts that fit are unchanged, whatever their prefix.
        let short = "a short text, with punctuation and   spaces";
        assert_eq!(
            truncating.encode(short).unwrap().ids,
            whole.encode(short).unwrap().ids
        );
    }
}

#[test]
fn the_prefix_ends_after_a_whole_word_before_a_space() {
    assert_eq!(truncation_prefix("abc def ghi", 2), Some("abc"));
    assert_eq!(truncation_prefix("abc def ghi", 4), Some("abc def"));
    assert_eq!(truncation_prefix("abc  def ghi", 4), Some("abc  def"));
    assert_eq!(truncation_prefix("abc def", 10), None);
    assert_eq!(truncation_prefix("abcdefgh", 2), None);
    assert_eq!(truncation_prefix("é\u{301} x", 1), Some("é\u{301}"));
}

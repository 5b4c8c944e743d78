//! Candidate rules: how a custom model's quality follows from its job's hyper-parameters, so a
//! hyper-parameter sweep on the emulator has a known winner.
//!
//! The good fraction is applied per prompt of the answer key by a stable hash of the prompt: a
//! prompt is answered well when its hash, read as a number in [0, 1), is below the fraction. A
//! larger fraction therefore answers a superset of the prompts a smaller one answers well.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One rule of [`crate::EmulatorConfig::candidate_rules`]. JSON: `{"when": {"learningRate":
/// "0.00005"}, "good_fraction": 0.9}` or `{"when": {...}, "fail": true}`; exactly one of the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct CandidateRule {
    /// Hyper-parameter name → value (strings, as Bedrock takes them); all must equal the job's.
    pub when: BTreeMap<String, String>,
    /// What a matching job gives.
    pub outcome: CandidateOutcome,
}

/// What a job matched by a [`CandidateRule`] gives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CandidateOutcome {
    /// The job ends `Failed` with a message naming the rule.
    Fail,
    /// The custom model answers this fraction (in [0, 1]) of answer-key prompts well.
    GoodFraction(f64),
}

impl CandidateRule {
    /// Whether every `when` pair equals the job's hyper-parameter of that name.
    pub fn matches(&self, hyper_parameters: &BTreeMap<String, String>) -> bool {
        self.when
            .iter()
            .all(|(key, value)| hyper_parameters.get(key) == Some(value))
    }
}

/// The first rule matching `hyper_parameters`, if any.
pub fn decide<'a>(
    rules: &'a [CandidateRule],
    hyper_parameters: &BTreeMap<String, String>,
) -> Option<&'a CandidateRule> {
    rules.iter().find(|rule| rule.matches(hyper_parameters))
}

/// Whether a model with `good_fraction` answers the answer-key prompt `key` well.
pub fn answers_well(key: &str, good_fraction: f64) -> bool {
    prompt_position(key) < good_fraction
}

/// A stable position in [0, 1) for a prompt: FNV-1a (64 bit) of its trimmed text, mixed with
/// SplitMix64's finalizer (FNV alone leaves the top bits of similar prompts close), top 53 bits.
pub fn prompt_position(key: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.trim().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    hash ^= hash >> 31;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    when: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    good_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    fail: bool,
}

impl TryFrom<RawRule> for CandidateRule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let outcome = match (raw.fail, raw.good_fraction) {
            (true, None) => CandidateOutcome::Fail,
            (false, Some(f)) if (0.0..=1.0).contains(&f) => CandidateOutcome::GoodFraction(f),
            (false, Some(f)) => {
                return Err(format!(
                    "candidate rule good_fraction {f} is outside [0, 1]"
                ));
            }
            (true, Some(_)) => {
                return Err(
                    "a candidate rule has either \"fail\": true or good_fraction, not both".into(),
                );
            }
            (false, None) => {
                return Err("a candidate rule needs \"fail\": true or a good_fraction".into());
            }
        };
        Ok(CandidateRule {
            when: raw.when,
            outcome,
        })
    }
}

impl From<CandidateRule> for RawRule {
    fn from(rule: CandidateRule) -> Self {
        let (fail, good_fraction) = match rule.outcome {
            CandidateOutcome::Fail => (true, None),
            CandidateOutcome::GoodFraction(f) => (false, Some(f)),
        };
        RawRule {
            when: rule.when,
            good_fraction,
            fail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules: Vec<CandidateRule> = serde_json::from_str(
            r#"[{"when":{"learningRate":"0.1","epochCount":"2"},"fail":true},
                {"when":{"learningRate":"0.1"},"good_fraction":0.25},
                {"when":{},"good_fraction":0.5}]"#,
        )
        .unwrap();
        let job = params(&[("learningRate", "0.1"), ("epochCount", "2")]);
        assert_eq!(
            decide(&rules, &job).unwrap().outcome,
            CandidateOutcome::Fail
        );
        let job = params(&[("learningRate", "0.1"), ("epochCount", "1")]);
        assert_eq!(
            decide(&rules, &job).unwrap().outcome,
            CandidateOutcome::GoodFraction(0.25)
        );
        assert_eq!(
            decide(&rules, &params(&[])).unwrap().outcome,
            CandidateOutcome::GoodFraction(0.5)
        );
        assert!(decide(&rules[..1], &params(&[("learningRate", "0.1")])).is_none());
    }

    #[test]
    fn rules_are_validated_when_read() {
        for bad in [
            r#"{"when":{},"good_fraction":1.5}"#,
            r#"{"when":{},"fail":true,"good_fraction":0.5}"#,
            r#"{"when":{}}"#,
            r#"{"when":{"epochCount":2},"fail":true}"#,
        ] {
            assert!(serde_json::from_str::<CandidateRule>(bad).is_err(), "{bad}");
        }
        let rule: CandidateRule =
            serde_json::from_str(r#"{"when":{"a":"1"},"good_fraction":0.5}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&rule).unwrap(),
            serde_json::json!({"when":{"a":"1"},"good_fraction":0.5})
        );
    }

    #[test]
    fn a_larger_fraction_answers_a_superset_well() {
        let prompts: Vec<String> = (0..200).map(|i| format!("prompt number {i}")).collect();
        let well = |f: f64| -> Vec<bool> { prompts.iter().map(|p| answers_well(p, f)).collect() };
        let (low, high) = (well(0.3), well(0.7));
        assert!(low.iter().zip(&high).all(|(l, h)| !l || *h));
        let count = |v: &[bool]| v.iter().filter(|b| **b).count();
        // The hash spreads prompts evenly enough that the fractions show.
        assert!((40..=80).contains(&count(&low)), "{}", count(&low));
        assert!((120..=160).contains(&count(&high)), "{}", count(&high));
        assert_eq!(count(&well(0.0)), 0);
        assert_eq!(count(&well(1.0)), 200);
        assert_eq!(prompt_position("  x "), prompt_position("x"));
    }
}

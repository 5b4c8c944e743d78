//! Request and response bodies per model family. InvokeModel bodies differ by provider; everything without a
//! known body goes through the Converse API, which has one shape for all models.

use bedrock_catalog::Adapter;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How a model is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// Cohere Command (text): `{"prompt"}` → `generations[0].text`.
    Cohere,
    /// Amazon Titan Text: `{"inputText"}` → `results[0].outputText`.
    Titan,
    /// Meta Llama: `{"prompt"}` → `generation`.
    Llama,
    /// Amazon Nova: `{"schemaVersion": "messages-v1", "system"?, "messages", "inferenceConfig"}` →
    /// `output.message.content[0].text`.
    Nova,
    /// The Converse API.
    Converse,
}

/// Generation settings shared by all families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GenerationParams {
    pub max_tokens: i32,
    pub temperature: f32,
    pub top_p: Option<f32>,
}

impl AdapterKind {
    /// The body a model is called with: its catalog entry's adapter (any spelling of the id: ARN, inference
    /// profile); Converse, which has one shape for every model, for Anthropic Messages and for models the catalog
    /// does not list.
    pub fn for_model(model_id: &str) -> Self {
        match crate::models::entry(model_id).map(|model| model.adapter()) {
            Some(Adapter::Nova) => AdapterKind::Nova,
            Some(Adapter::MetaLlama) => AdapterKind::Llama,
            Some(Adapter::CohereCommand) => AdapterKind::Cohere,
            Some(Adapter::TitanText) => AdapterKind::Titan,
            Some(Adapter::AnthropicMessages) | None => AdapterKind::Converse,
        }
    }

    /// Whether the family's calls have an InvokeModel body (batch inference records are InvokeModel bodies).
    pub fn has_invoke_body(self) -> bool {
        self != AdapterKind::Converse
    }

    /// The family's name in config files and reports.
    pub fn name(self) -> &'static str {
        match self {
            AdapterKind::Cohere => "cohere",
            AdapterKind::Titan => "titan",
            AdapterKind::Llama => "llama",
            AdapterKind::Nova => "nova",
            AdapterKind::Converse => "converse",
        }
    }

    /// The Bedrock runtime operation the family is called with: `Converse`, else `InvokeModel`.
    pub fn runtime_operation(self) -> &'static str {
        if self == AdapterKind::Converse {
            "Converse"
        } else {
            "InvokeModel"
        }
    }

    /// The InvokeModel body for `prompt` (with `system` as the system prompt where the family has one); `None`
    /// for Converse.
    pub(crate) fn request_body(
        self,
        prompt: &str,
        system: Option<&str>,
        params: &GenerationParams,
    ) -> Option<Value> {
        let body = match self {
            AdapterKind::Cohere => {
                let mut body = json!({
                    "prompt": prompt,
                    "max_tokens": params.max_tokens,
                    "temperature": params.temperature,
                });
                if let Some(p) = params.top_p {
                    body["p"] = json!(p);
                }
                body
            }
            AdapterKind::Titan => {
                let mut config = json!({
                    "maxTokenCount": params.max_tokens,
                    "temperature": params.temperature,
                });
                if let Some(p) = params.top_p {
                    config["topP"] = json!(p);
                }
                json!({ "inputText": prompt, "textGenerationConfig": config })
            }
            AdapterKind::Llama => {
                let mut body = json!({
                    "prompt": prompt,
                    "max_gen_len": params.max_tokens,
                    "temperature": params.temperature,
                });
                if let Some(p) = params.top_p {
                    body["top_p"] = json!(p);
                }
                body
            }
            AdapterKind::Nova => {
                let mut config = json!({
                    "maxTokens": params.max_tokens,
                    "temperature": params.temperature,
                });
                if let Some(p) = params.top_p {
                    config["topP"] = json!(p);
                }
                let mut body = json!({
                    "schemaVersion": "messages-v1",
                    "messages": [{ "role": "user", "content": [{ "text": prompt }] }],
                    "inferenceConfig": config,
                });
                if let Some(system) = system {
                    body["system"] = json!([{ "text": system }]);
                }
                body
            }
            AdapterKind::Converse => return None,
        };
        Some(body)
    }

    /// An InvokeModel response body that says `text` (what [`AdapterKind::response_text`] reads back): the dry
    /// run's batch output records. `None` for Converse.
    pub(crate) fn response_body(self, text: &str) -> Option<Value> {
        Some(match self {
            AdapterKind::Cohere => json!({ "generations": [{ "text": text }] }),
            AdapterKind::Titan => json!({ "results": [{ "outputText": text }] }),
            AdapterKind::Llama => json!({ "generation": text }),
            AdapterKind::Nova => {
                json!({ "output": { "message": { "role": "assistant", "content": [{ "text": text }] } } })
            }
            AdapterKind::Converse => return None,
        })
    }

    /// The generated text of an InvokeModel response body.
    pub(crate) fn response_text(self, body: &[u8]) -> Result<String, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("response is not JSON: {e}"))?;
        let text = match self {
            AdapterKind::Cohere => value.pointer("/generations/0/text"),
            AdapterKind::Titan => value.pointer("/results/0/outputText"),
            AdapterKind::Llama => value.get("generation"),
            AdapterKind::Nova => value.pointer("/output/message/content/0/text"),
            AdapterKind::Converse => {
                return Err("Converse responses are not InvokeModel bodies".into());
            }
        };
        text.and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .ok_or_else(|| {
                let mut shown = value.to_string();
                shown.truncate(200);
                format!("no generated text in the {} response: {shown}", self.name())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: GenerationParams = GenerationParams {
        max_tokens: 100,
        temperature: 0.0,
        top_p: Some(0.9),
    };

    #[test]
    fn families_by_model_id() {
        assert_eq!(
            AdapterKind::for_model("cohere.command-light-text-v14"),
            AdapterKind::Cohere
        );
        assert_eq!(
            AdapterKind::for_model("cohere.command-r-v1:0"),
            AdapterKind::Converse
        );
        assert_eq!(
            AdapterKind::for_model(
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"
            ),
            AdapterKind::Titan
        );
        assert_eq!(
            AdapterKind::for_model("meta.llama3-1-8b-instruct-v1:0"),
            AdapterKind::Llama
        );
        // Not in the catalog: Converse, whose body every model takes.
        assert_eq!(
            AdapterKind::for_model("meta.llama3-8b-instruct-v1:0"),
            AdapterKind::Converse
        );
        assert_eq!(
            AdapterKind::for_model("amazon.nova-micro-v1:0"),
            AdapterKind::Nova
        );
        assert_eq!(
            AdapterKind::for_model("us.amazon.nova-lite-v1:0"),
            AdapterKind::Nova
        );
        assert_eq!(
            AdapterKind::for_model("anthropic.claude-3-haiku-20240307-v1:0"),
            AdapterKind::Converse
        );
    }

    #[test]
    fn response_bodies_read_back_as_their_text() {
        for kind in [
            AdapterKind::Cohere,
            AdapterKind::Titan,
            AdapterKind::Llama,
            AdapterKind::Nova,
        ] {
            let body = kind.response_body("the text").unwrap().to_string();
            assert_eq!(
                kind.response_text(body.as_bytes()).unwrap(),
                "the text",
                "{kind:?}"
            );
        }
        assert!(AdapterKind::Converse.response_body("x").is_none());
    }

    #[test]
    fn bodies_and_responses_round_trip() {
        let cohere = AdapterKind::Cohere
            .request_body("hi", Some("ignored"), &PARAMS)
            .unwrap();
        assert!(cohere.get("system").is_none());
        assert_eq!(cohere["prompt"], "hi");
        assert_eq!(cohere["max_tokens"], 100);
        let titan = AdapterKind::Titan
            .request_body("hi", None, &PARAMS)
            .unwrap();
        assert_eq!(titan["inputText"], "hi");
        assert_eq!(titan["textGenerationConfig"]["maxTokenCount"], 100);
        let llama = AdapterKind::Llama
            .request_body("hi", None, &PARAMS)
            .unwrap();
        assert_eq!(llama["max_gen_len"], 100);
        let nova = AdapterKind::Nova
            .request_body("hi", Some("Be brief."), &PARAMS)
            .unwrap();
        assert_eq!(nova["schemaVersion"], "messages-v1");
        assert_eq!(nova["messages"][0]["content"][0]["text"], "hi");
        assert_eq!(nova["system"][0]["text"], "Be brief.");
        assert_eq!(nova["inferenceConfig"]["maxTokens"], 100);
        assert!(
            AdapterKind::Converse
                .request_body("hi", None, &PARAMS)
                .is_none()
        );

        let text = |kind: AdapterKind, body: &str| kind.response_text(body.as_bytes());
        assert_eq!(
            text(AdapterKind::Cohere, r#"{"generations":[{"text":" a "}]}"#).unwrap(),
            "a"
        );
        assert_eq!(
            text(AdapterKind::Titan, r#"{"results":[{"outputText":"b"}]}"#).unwrap(),
            "b"
        );
        assert_eq!(
            text(AdapterKind::Llama, r#"{"generation":"c"}"#).unwrap(),
            "c"
        );
        assert_eq!(
            text(
                AdapterKind::Nova,
                r#"{"output":{"message":{"role":"assistant","content":[{"text":" d "}]}},"stopReason":"end_turn"}"#
            )
            .unwrap(),
            "d"
        );
        assert!(text(AdapterKind::Llama, r#"{"generations":[]}"#).is_err());
        assert!(text(AdapterKind::Cohere, "not json").is_err());
    }
}

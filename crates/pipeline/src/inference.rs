//! Running the evaluation prompts on a model: bounded concurrency, throttling and 5xx retried with full-jitter
//! exponential backoff, and one result per item, in item order, whether it succeeded or not. (The AWS sample
//! dropped failed prompts from its output list, which shifted every later output onto the wrong reference.)

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::adapter::{AdapterKind, GenerationParams};
use crate::config::{InferenceConfig, seconds};
use crate::data::EvalItem;
use crate::error::AwsFailure;

/// One item's result from one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemOutput {
    pub id: String,
    /// The generated text; `None` when the item failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Calls made for this item (1 = no retry).
    pub attempts: u32,
}

/// Which model a batch ran on, for messages.
#[derive(Debug, Clone)]
pub struct Target {
    pub label: &'static str,
    /// Foundation model id or provisioned-model ARN.
    pub model_id: String,
    pub adapter: AdapterKind,
    /// The system prompt (`customization.system_prompt`), for families whose request has one (Nova, Converse).
    pub system: Option<String>,
}

/// Runs every item on `target`; the result has one entry per item, in the same order.
pub async fn run_all(
    client: &aws_sdk_bedrockruntime::Client,
    target: &Target,
    items: &[EvalItem],
    config: &InferenceConfig,
) -> Vec<ItemOutput> {
    let semaphore = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let params = GenerationParams {
        max_tokens: config.max_tokens,
        temperature: config.temperature,
        top_p: config.top_p,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (index, item) in items.iter().enumerate() {
        let semaphore = semaphore.clone();
        let client = client.clone();
        let target = target.clone();
        let item = item.clone();
        let config = config.clone();
        tasks.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            (
                index,
                run_one(&client, &target, &item, &params, &config).await,
            )
        });
    }
    let mut outputs: Vec<Option<ItemOutput>> = vec![None; items.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, output)) => outputs[index] = Some(output),
            Err(e) => tracing::error!("an inference task panicked: {e}"),
        }
    }
    outputs
        .into_iter()
        .zip(items)
        .map(|(output, item)| {
            output.unwrap_or_else(|| ItemOutput {
                id: item.id.clone(),
                completion: None,
                error: Some("the inference task did not finish".into()),
                attempts: 0,
            })
        })
        .collect()
}

/// A failed call: whether retrying can help, and what to report.
struct CallError {
    retryable: bool,
    message: String,
}

async fn run_one(
    client: &aws_sdk_bedrockruntime::Client,
    target: &Target,
    item: &EvalItem,
    params: &GenerationParams,
    config: &InferenceConfig,
) -> ItemOutput {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call(client, target, &item.prompt, params).await {
            Ok(text) => {
                return ItemOutput {
                    id: item.id.clone(),
                    completion: Some(text),
                    error: None,
                    attempts: attempt,
                };
            }
            Err(error) if error.retryable && attempt < config.max_attempts => {
                let delay = backoff(attempt, config.retry_base_s, config.retry_max_s);
                tracing::debug!(
                    "{} item {}: {} (attempt {attempt}); retrying in {delay:?}",
                    target.label,
                    item.id,
                    error.message
                );
                tokio::time::sleep(delay).await;
            }
            Err(error) => {
                tracing::warn!(
                    "{} item {} failed: {}",
                    target.label,
                    item.id,
                    error.message
                );
                return ItemOutput {
                    id: item.id.clone(),
                    completion: None,
                    error: Some(error.message),
                    attempts: attempt,
                };
            }
        }
    }
}

/// Full jitter: a uniform delay in `[0, min(max, base * 2^(attempt-1))]`.
pub(crate) fn backoff(attempt: u32, base_s: f64, max_s: f64) -> Duration {
    let ceiling = (base_s * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(max_s);
    seconds(ceiling * rand::random::<f64>())
}

async fn call(
    client: &aws_sdk_bedrockruntime::Client,
    target: &Target,
    prompt: &str,
    params: &GenerationParams,
) -> Result<String, CallError> {
    match target
        .adapter
        .request_body(prompt, target.system.as_deref(), params)
    {
        Some(body) => {
            let response = client
                .invoke_model()
                .model_id(&target.model_id)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(body.to_string()))
                .send()
                .await
                .map_err(|e| classify("InvokeModel", e, invoke_retryable))?;
            target
                .adapter
                .response_text(response.body().as_ref())
                .map_err(|message| CallError {
                    retryable: false,
                    message,
                })
        }
        None => {
            let message = Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(prompt.to_string()))
                .build()
                .map_err(|e| CallError {
                    retryable: false,
                    message: e.to_string(),
                })?;
            let mut inference = InferenceConfiguration::builder()
                .max_tokens(params.max_tokens)
                .temperature(params.temperature);
            if let Some(p) = params.top_p {
                inference = inference.top_p(p);
            }
            let mut request = client
                .converse()
                .model_id(&target.model_id)
                .messages(message)
                .inference_config(inference.build());
            if let Some(system) = &target.system {
                request = request.system(SystemContentBlock::Text(system.clone()));
            }
            let response = request
                .send()
                .await
                .map_err(|e| classify("Converse", e, converse_retryable))?;
            let text: Vec<String> = response
                .output()
                .and_then(|output| output.as_message().ok())
                .map(|message| {
                    message
                        .content()
                        .iter()
                        .filter_map(|block| block.as_text().ok().cloned())
                        .collect()
                })
                .unwrap_or_default();
            if text.is_empty() {
                return Err(CallError {
                    retryable: false,
                    message: "the Converse response has no text".into(),
                });
            }
            Ok(text.join("\n").trim().to_string())
        }
    }
}

/// InvokeModel errors worth retrying: throttling, the service or model busy or not ready yet.
fn invoke_retryable(error: &InvokeModelError) -> bool {
    error.is_throttling_exception()
        || error.is_service_unavailable_exception()
        || error.is_internal_server_exception()
        || error.is_model_not_ready_exception()
        || error.is_model_timeout_exception()
}

/// Converse errors worth retrying (as for InvokeModel).
fn converse_retryable(error: &ConverseError) -> bool {
    error.is_throttling_exception()
        || error.is_service_unavailable_exception()
        || error.is_internal_server_exception()
        || error.is_model_not_ready_exception()
        || error.is_model_timeout_exception()
}

/// Throttling, 5xx and transport failures are worth retrying; validation, access and not-found errors are not.
/// The message is the call's summary (code, message, request id), never the SDK's debug dump.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
    retryable_service_error: fn(&E) -> bool,
) -> CallError {
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            retryable_service_error(service.err()) || status == 429 || status >= 500
        }
        _ => false,
    };
    let failure = AwsFailure::from_sdk("bedrock-runtime", operation, &error);
    CallError {
        retryable,
        message: failure.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 1..20 {
            let delay = backoff(attempt, 0.1, 2.0);
            assert!(delay <= Duration::from_secs(2), "{delay:?}");
        }
        assert!(backoff(1, 0.1, 2.0) <= Duration::from_millis(100));
        assert_eq!(backoff(3, 0.0, 2.0), Duration::ZERO);
    }
}

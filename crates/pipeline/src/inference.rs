//! Running the evaluation prompts on a model: bounded concurrency, each call retried by the SDK's standard retry
//! mode (throttling, 5xx, timeouts; `[inference] max_attempts`, with backoff and jitter), and one result per
//! item, in item order, whether it succeeded or not. (The AWS sample dropped failed prompts from its output list,
//! which shifted every later output onto the wrong reference.)

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::adapter::AdapterKind;
use crate::aws::{Aws, Generate};
use crate::config::InferenceConfig;
use crate::data::EvalItem;

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

/// Runs every item on `target`, `config.concurrency` at a time; the result has one entry per item, in the same
/// order. Each call is retried by the port (the SDK's standard retry mode) as `config` says.
pub async fn run_all(
    aws: &Arc<dyn Aws>,
    target: &Target,
    items: &[EvalItem],
    config: &InferenceConfig,
) -> Vec<ItemOutput> {
    let semaphore = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, item) in items.iter().enumerate() {
        let semaphore = semaphore.clone();
        let aws = aws.clone();
        let target = target.clone();
        let item = item.clone();
        let config = config.clone();
        tasks.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            (index, run_one(aws.as_ref(), &target, &item, &config).await)
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

async fn run_one(
    aws: &dyn Aws,
    target: &Target,
    item: &EvalItem,
    config: &InferenceConfig,
) -> ItemOutput {
    let generation = aws
        .generate(&Generate {
            model_id: &target.model_id,
            adapter: target.adapter,
            system: target.system.as_deref(),
            prompt: &item.prompt,
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            top_p: config.top_p,
            max_attempts: config.max_attempts,
            retry_base_s: config.retry_base_s,
            retry_max_s: config.retry_max_s,
        })
        .await;
    if let Err(error) = &generation.text {
        tracing::warn!("{} item {} failed: {error}", target.label, item.id);
    }
    let (completion, error) = match generation.text {
        Ok(text) => (Some(text), None),
        Err(error) => (None, Some(error)),
    };
    ItemOutput {
        id: item.id.clone(),
        completion,
        error,
        attempts: generation.attempts,
    }
}

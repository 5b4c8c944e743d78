//! The operations that read or write S3 (moto, through `EmulatorConfig::s3_endpoint`):
//! CreateModelCustomizationJob checks its training and validation files, CreateModelInvocationJob reads its
//! input and, when its time is up, writes its output. The S3 calls run on blocking threads,
//! outside the store's lock. Both creates first check the role they name in IAM ([`crate::iam`]).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AppState, parse_body};
use crate::batch_records::{self, BatchInput};
use crate::families;
use crate::iam;
use crate::s3::{S3, S3Error, S3Location};
use crate::store::{BatchRequest, foundation_model_id};
use crate::training;
use crate::wire::{self, ApiError};
use bedrock_catalog::TrainingFormat;
use bedrock_catalog::roles::JobKind;

fn reply(result: Result<Value, ApiError>, status: StatusCode, operation: &str) -> Response {
    match result {
        Ok(body) => wire::json(status, body),
        Err(err) => {
            tracing::debug!(operation, %err, "control-plane error");
            err.into_response()
        }
    }
}

/// Runs blocking S3 work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("S3 task failed: {e}")))?
}

fn s3_problem(err: S3Error) -> ApiError {
    ApiError::validation(err.to_string())
}

// ---- CreateModelCustomizationJob ----

pub async fn create_job(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    const OPERATION: &str = "CreateModelCustomizationJob";
    let result = async {
        let body = parse_body(&body)?;
        let region = wire::signed_region(&headers);
        let (check, iam) = {
            let mut store = state.store();
            store.count_call(OPERATION);
            if store.job_for_token(&body).is_some() {
                (None, None)
            } else {
                let iam = store.config.role_checks().map_err(ApiError::internal)?;
                (
                    training_check(&body, store.config.s3_endpoint.as_deref()),
                    iam.map(str::to_owned),
                )
            }
        };
        if let (Some(endpoint), Some(role), Some(base)) = (
            iam,
            body.get("roleArn").and_then(Value::as_str),
            body.get("baseModelIdentifier").and_then(Value::as_str),
        ) {
            let job_id = format!("{}/new", foundation_model_id(base));
            iam::check_role(&endpoint, role, JobKind::Customization, &region, &job_id).await?;
        }
        if let Some((endpoint, files, format)) = check {
            for at in files {
                let uri = at.uri();
                let endpoint = endpoint.clone();
                let text = blocking(move || {
                    S3::new(&endpoint)
                        .get(&at)
                        .map_err(s3_problem)?
                        .ok_or_else(|| {
                            ApiError::validation(format!(
                                "The data file {} does not exist.",
                                at.uri()
                            ))
                        })
                })
                .await?;
                let text = String::from_utf8(text).map_err(|_| {
                    ApiError::validation(format!("The data file {uri} is not UTF-8 text."))
                })?;
                training::validate(&text, format, &uri)?;
            }
        }
        state.store().create_job(&body, &region)
    }
    .await;
    reply(result, StatusCode::CREATED, OPERATION)
}

/// What to check: the S3 endpoint, the training file and the validation files, and the base
/// model's family, when the endpoint, the training file and the family are known.
fn training_check(
    body: &Value,
    endpoint: Option<&str>,
) -> Option<(String, Vec<S3Location>, TrainingFormat)> {
    let endpoint = endpoint?;
    let uri = body.get("trainingDataConfig")?.get("s3Uri")?.as_str()?;
    let mut files = vec![S3Location::parse(uri).ok()?];
    let validators = body
        .get("validationDataConfig")
        .and_then(|v| v.get("validators"))
        .and_then(Value::as_array);
    for validator in validators.into_iter().flatten() {
        if let Some(at) = validator
            .get("s3Uri")
            .and_then(Value::as_str)
            .and_then(|uri| S3Location::parse(uri).ok())
        {
            files.push(at);
        }
    }
    let base = body.get("baseModelIdentifier")?.as_str()?;
    let format = families::model_of(foundation_model_id(base))
        .ok()?
        .training
        .format;
    Some((endpoint.to_owned(), files, format))
}

// ---- CreateModelInvocationJob ----

pub async fn create_batch_job(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    const OPERATION: &str = "CreateModelInvocationJob";
    let result = async {
        let body = parse_body(&body)?;
        let (prepared, iam) = {
            let mut store = state.store();
            store.count_call(OPERATION);
            let prepared = store.prepare_batch_job(&body)?;
            (
                prepared,
                store
                    .config
                    .role_checks()
                    .map_err(ApiError::internal)?
                    .map(str::to_owned),
            )
        };
        let request = match prepared {
            Ok(request) => request,
            Err(existing) => return Ok(json!({ "jobArn": existing })),
        };
        if let (Some(endpoint), Some(role)) = (iam, body.get("roleArn").and_then(Value::as_str)) {
            let region = wire::signed_region(&headers);
            iam::check_role(&endpoint, role, JobKind::Batch, &region, "new").await?;
        }
        let inputs = read_inputs(&request).await?;
        let (arn, duration) = state.store().insert_batch_job(request, inputs)?;
        if !duration.is_zero() {
            tokio::spawn(run_batch_job(state.clone(), arn.clone(), duration));
        }
        Ok(json!({ "jobArn": arn }))
    }
    .await;
    reply(result, StatusCode::OK, OPERATION)
}

/// The input file, or every `.jsonl` file under the input prefix, parsed.
async fn read_inputs(request: &BatchRequest) -> Result<Vec<BatchInput>, ApiError> {
    let (endpoint, input) = (request.s3_endpoint.clone(), request.input.clone());
    let files = blocking(move || {
        let s3 = S3::new(&endpoint);
        if !input.key.is_empty()
            && !input.key.ends_with('/')
            && let Some(bytes) = s3.get(&input).map_err(s3_problem)?
        {
            return Ok(vec![(input.clone(), bytes)]);
        }
        if input.key.ends_with(".jsonl") {
            return Err(ApiError::validation(format!(
                "The batch input {} does not exist.",
                input.uri()
            )));
        }
        let prefix = match input.key.as_str() {
            "" => String::new(),
            key if key.ends_with('/') => key.to_owned(),
            key => format!("{key}/"),
        };
        let keys = s3.list(&input.bucket, &prefix).map_err(s3_problem)?;
        let mut files = Vec::new();
        for key in keys.into_iter().filter(|k| k.ends_with(".jsonl")) {
            let at = S3Location {
                bucket: input.bucket.clone(),
                key,
            };
            if let Some(bytes) = s3.get(&at).map_err(s3_problem)? {
                files.push((at, bytes));
            }
        }
        if files.is_empty() {
            return Err(ApiError::validation(format!(
                "The batch input {} has no .jsonl file.",
                input.uri()
            )));
        }
        Ok(files)
    })
    .await?;
    let mut inputs = Vec::new();
    let mut first_index = 0;
    for (at, bytes) in files {
        let text = String::from_utf8(bytes).map_err(|_| {
            ApiError::validation(format!("The batch input {} is not UTF-8 text.", at.uri()))
        })?;
        let input = batch_records::parse_input(&at.uri(), at.file_name(), &text, first_index)?;
        first_index += input.records.len();
        inputs.push(input);
    }
    Ok(inputs)
}

/// Waits out the job's duration, then writes its output and final status.
async fn run_batch_job(state: AppState, arn: String, duration: Duration) {
    tokio::time::sleep(duration).await;
    let Some((endpoint, output)) = state.store().batch_output(&arn) else {
        return;
    };
    let objects = output.objects;
    let written = tokio::task::spawn_blocking(move || {
        let s3 = S3::new(&endpoint);
        for (at, text) in &objects {
            s3.put(at, text.as_bytes(), "application/jsonl")
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| Err(format!("S3 task failed: {e}")));
    if let Err(why) = &written {
        tracing::warn!(%arn, %why, "batch job output not written");
    }
    state
        .store()
        .finish_batch_job(&arn, output.manifest, written);
}

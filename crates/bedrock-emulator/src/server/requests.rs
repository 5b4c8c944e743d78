//! The request log behind `GET /_emulator/requests`: every Bedrock request served, oldest first, as
//! `{"operation", "modelId", "resourceArn", "status"}` (the API's operation name, the model the request names,
//! the resource it names or created, the HTTP status), so a test can assert what a run called and what it did not.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One served request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// The API's operation name (`InvokeModel`); `Unknown` for a route the emulator does not serve.
    pub operation: String,
    /// The model the request names (path or body), when it names one.
    pub model_id: Option<String>,
    /// The resource the request names, or the one a create made.
    pub resource_arn: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// The log, shared by the middleware and the endpoint.
pub type RequestLog = Arc<Mutex<Vec<RequestRecord>>>;

/// Request and response bodies larger than this are not inspected (the log keeps the operation and status).
const INSPECT_LIMIT: usize = 16 << 20;

/// The operation of a route, and the percent-decoded `{id}` of its path.
fn operation(method: &Method, path: &str) -> (&'static str, Option<String>) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |i: usize| {
        segments
            .get(i)
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
    };
    let get = method == Method::GET;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let op = match (segments.as_slice(), get, post, delete) {
        (["model-customization-jobs"], _, true, _) => "CreateModelCustomizationJob",
        (["model-customization-jobs"], true, _, _) => "ListModelCustomizationJobs",
        (["model-customization-jobs", _], true, _, _) => "GetModelCustomizationJob",
        (["model-customization-jobs", _, "stop"], _, true, _) => "StopModelCustomizationJob",
        (["custom-models"], true, _, _) => "ListCustomModels",
        (["custom-models", _], true, _, _) => "GetCustomModel",
        (["custom-models", _], _, _, true) => "DeleteCustomModel",
        (["provisioned-model-throughput"], _, true, _) => "CreateProvisionedModelThroughput",
        (["provisioned-model-throughput", _], true, _, _) => "GetProvisionedModelThroughput",
        (["provisioned-model-throughput", _], _, _, true) => "DeleteProvisionedModelThroughput",
        (["provisioned-model-throughputs"], true, _, _) => "ListProvisionedModelThroughputs",
        (["model-customization", "custom-model-deployments"], _, true, _) => {
            "CreateCustomModelDeployment"
        }
        (["model-customization", "custom-model-deployments"], true, _, _) => {
            "ListCustomModelDeployments"
        }
        (["model-customization", "custom-model-deployments", _], true, _, _) => {
            return ("GetCustomModelDeployment", id(2));
        }
        (["model-customization", "custom-model-deployments", _], _, _, true) => {
            return ("DeleteCustomModelDeployment", id(2));
        }
        (["model-invocation-job"], _, true, _) => "CreateModelInvocationJob",
        (["model-invocation-job", _], true, _, _) => "GetModelInvocationJob",
        (["model-invocation-job", _, "stop"], _, true, _) => "StopModelInvocationJob",
        (["model-invocation-jobs"], true, _, _) => "ListModelInvocationJobs",
        (["model", _, "invoke"], _, true, _) => "InvokeModel",
        (["model", _, "converse"], _, true, _) => "Converse",
        (["foundation-models"], true, _, _) => "ListFoundationModels",
        (["foundation-models", _], true, _, _) => "GetFoundationModel",
        _ => "Unknown",
    };
    (op, if segments.len() > 1 { id(1) } else { None })
}

fn str_at(body: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// Middleware: serves the request, then appends its record.
pub async fn record(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let (op, path_id) = operation(request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, INSPECT_LIMIT)
        .await
        .unwrap_or_default();
    let request_body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let out = axum::body::to_bytes(body, INSPECT_LIMIT)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let response_body: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
    let runtime = matches!(op, "InvokeModel" | "Converse" | "GetFoundationModel");
    let model_id = if runtime {
        path_id.clone()
    } else {
        str_at(
            &request_body,
            &["baseModelIdentifier", "modelId", "modelArn"],
        )
    };
    let resource_arn = if runtime {
        None
    } else {
        path_id.or_else(|| {
            str_at(
                &response_body,
                &["jobArn", "provisionedModelArn", "customModelDeploymentArn"],
            )
        })
    };
    log.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(RequestRecord {
            operation: op.to_owned(),
            model_id,
            resource_arn,
            status,
        });
    Response::from_parts(parts, Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_operations_and_ids() {
        assert_eq!(
            operation(
                &Method::POST,
                "/model/meta.llama3-1-8b-instruct-v1%3A0/invoke"
            ),
            (
                "InvokeModel",
                Some("meta.llama3-1-8b-instruct-v1:0".to_owned())
            )
        );
        assert_eq!(
            operation(&Method::POST, "/model-customization-jobs").0,
            "CreateModelCustomizationJob"
        );
        assert_eq!(
            operation(
                &Method::DELETE,
                "/model-customization/custom-model-deployments/x"
            )
            .0,
            "DeleteCustomModelDeployment"
        );
        assert_eq!(operation(&Method::PUT, "/custom-models").0, "Unknown");
    }
}

//! Custom model deployments (on-demand inference for customized Amazon Nova models):
//! `Creating` → `Active` (or `Failed`) after [`crate::EmulatorConfig::deployment_duration`];
//! idempotent on `clientRequestToken`; invoked with the deployment ARN as model id.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::history::{ServingEventKind, ServingKind};
use super::{ACCOUNT, REGION, ResolvedModel, Store, listed, required_str};
use crate::families;
use crate::runtime::Speaker;
use crate::wire::{ApiError, rfc3339};

/// A custom model deployment, as `GET /_emulator/state` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentState {
    /// The deployment's ARN (what InvokeModel and Converse take as model id).
    pub arn: String,
    /// Its name (`modelDeploymentName`).
    pub name: String,
    /// The custom model it serves.
    pub model_arn: String,
    /// `Creating`, `Active` or `Failed`.
    pub status: String,
    /// The create call's idempotency token.
    pub client_request_token: Option<String>,
    /// Whether DeleteCustomModelDeployment was called on it.
    pub deleted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Creating,
    Active,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "Creating",
            Status::Active => "Active",
            Status::Failed => "Failed",
        }
    }
}

pub(super) struct Deployment {
    arn: String,
    name: String,
    token: Option<String>,
    model_arn: String,
    base_model_id: String,
    description: Option<String>,
    created: SystemTime,
    started: Instant,
    duration: Duration,
    fails: bool,
    status: Status,
    deleted: bool,
}

impl Deployment {
    fn json(&self) -> Value {
        let mut out = json!({
            "customModelDeploymentArn": self.arn,
            "modelDeploymentName": self.name,
            "modelArn": self.model_arn,
            "createdAt": rfc3339(self.created),
            "status": self.status.as_str(),
            "lastUpdatedAt": rfc3339(if self.status == Status::Creating {
                self.created
            } else {
                self.created + self.duration
            }),
        });
        if let Some(description) = &self.description {
            out["description"] = json!(description);
        }
        if self.status == Status::Failed {
            out["failureMessage"] = json!("Deployment failed (injected fault deployment_fails).");
        }
        out
    }

    fn summary(&self) -> Value {
        let mut out = self.json();
        if let Some(map) = out.as_object_mut() {
            let name = map.remove("modelDeploymentName").unwrap_or_default();
            map.insert("customModelDeploymentName".into(), name);
            map.remove("description");
        }
        out
    }
}

impl Store {
    pub(super) fn advance_deployments(&mut self, now: Instant) {
        for d in &mut self.deployments {
            if d.status == Status::Creating && now.duration_since(d.started) >= d.duration {
                d.status = if d.fails {
                    Status::Failed
                } else {
                    Status::Active
                };
            }
        }
    }

    pub(super) fn deployment_states(&self) -> Vec<DeploymentState> {
        self.deployments
            .iter()
            .map(|d| DeploymentState {
                arn: d.arn.clone(),
                name: d.name.clone(),
                model_arn: d.model_arn.clone(),
                status: d.status.as_str().to_owned(),
                client_request_token: d.token.clone(),
                deleted: d.deleted,
            })
            .collect()
    }

    /// The ARN of a deployment not deleted that serves `model_arn`.
    pub(super) fn live_deployment_of(&self, model_arn: &str) -> Option<String> {
        self.deployments
            .iter()
            .find(|d| !d.deleted && d.model_arn == model_arn)
            .map(|d| d.arn.clone())
    }

    /// CreateCustomModelDeployment → `{customModelDeploymentArn}`. A repeated
    /// `clientRequestToken` returns the deployment it created first; another live deployment of
    /// the same name is a `ValidationException` (the operation models no `ConflictException`).
    pub fn create_deployment(&mut self, body: &Value) -> Result<Value, ApiError> {
        self.advance();
        let token = body
            .get("clientRequestToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(token) = &token
            && let Some(d) = self
                .deployments
                .iter()
                .find(|d| d.token.as_ref() == Some(token))
        {
            return Ok(json!({ "customModelDeploymentArn": d.arn }));
        }
        if self.config.faults.fail_deployment_create {
            return Err(ApiError::quota(
                "You have reached the quota of custom model deployments (injected fault).",
            ));
        }
        let name = required_str(body, "modelDeploymentName")?.to_owned();
        let model_arn = required_str(body, "modelArn")?.to_owned();
        // CreateCustomModelDeployment models no ConflictException: Bedrock answers a taken
        // name with a ValidationException, as it does for provisioned throughputs.
        if self
            .deployments
            .iter()
            .any(|d| !d.deleted && d.name == name)
        {
            return Err(ApiError::validation(format!(
                "A custom model deployment named {name} already exists."
            )));
        }
        let model = self
            .models
            .iter()
            .find(|m| !m.deleted && (m.arn == model_arn || m.name == model_arn))
            .ok_or_else(|| {
                ApiError::not_found(format!("Could not find custom model {model_arn}."))
            })?;
        let deployable = families::model_of(&model.base_model_id)
            .is_ok_and(|base| base.on_demand_deployment.in_region(REGION));
        if !deployable {
            return Err(ApiError::validation(format!(
                "On-demand deployment is not supported for custom model {} (customized from {}) in {REGION}; use provisioned throughput.",
                model.arn, model.base_model_id
            )));
        }
        let (model_arn, base_model_id) = (model.arn.clone(), model.base_model_id.clone());
        let id = self.new_id();
        let arn = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/{id}");
        self.deployments.push(Deployment {
            arn: arn.clone(),
            name,
            token,
            model_arn,
            base_model_id,
            description: body
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            created: SystemTime::now(),
            started: Instant::now(),
            duration: self.config.deployment_duration,
            fails: self.config.faults.deployment_fails,
            status: Status::Creating,
            deleted: false,
        });
        self.record(ServingKind::Deployment, &arn, ServingEventKind::Created);
        Ok(json!({ "customModelDeploymentArn": arn }))
    }

    fn find_deployment_index(&self, identifier: &str) -> Result<usize, ApiError> {
        self.deployments
            .iter()
            .position(|d| !d.deleted && (d.arn == identifier || d.name == identifier))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Could not find custom model deployment {identifier}."
                ))
            })
    }

    pub fn get_deployment(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        Ok(self.deployments[self.find_deployment_index(identifier)?].json())
    }

    pub fn delete_deployment(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let index = self.find_deployment_index(identifier)?;
        self.deployments[index].deleted = true;
        let arn = self.deployments[index].arn.clone();
        self.record(ServingKind::Deployment, &arn, ServingEventKind::Deleted);
        Ok(json!({}))
    }

    /// ListCustomModelDeployments (live ones); filters `statusEquals`, `nameContains`,
    /// `modelArnEquals`; `sortOrder` `Ascending` or `Descending` (default) by creation time.
    pub fn list_deployments(
        &mut self,
        query: &BTreeMap<String, String>,
    ) -> Result<Value, ApiError> {
        self.advance();
        let mut summaries: Vec<Value> = self
            .deployments
            .iter()
            .filter(|d| !d.deleted)
            .filter(|d| listed(query, d.status.as_str(), &d.name, &d.model_arn))
            .map(Deployment::summary)
            .collect();
        if query.get("sortOrder").map(String::as_str) != Some("Ascending") {
            summaries.reverse();
        }
        Ok(json!({ "modelDeploymentSummaries": summaries }))
    }

    /// A deployment ARN as runtime model id: it must be `Active`; it answers as its custom model.
    pub(super) fn resolve_deployment(&self, model_id: &str) -> Result<ResolvedModel, ApiError> {
        let d = &self.deployments[self.find_deployment_index(model_id)?];
        if d.status != Status::Active {
            return Err(ApiError::validation(format!(
                "Custom model deployment {} is not ready: its status is {}.",
                d.arn,
                d.status.as_str()
            )));
        }
        Ok(ResolvedModel {
            base_model_id: d.base_model_id.clone(),
            speaker: Speaker::Custom {
                good_fraction: self.good_fraction_of(&d.model_arn),
            },
        })
    }
}

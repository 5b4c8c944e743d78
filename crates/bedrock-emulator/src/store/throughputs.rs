//! Provisioned throughputs: `Creating` → `InService` (or `Failed`) after
//! [`crate::EmulatorConfig::pt_duration`]; idempotent on `clientRequestToken`.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use super::history::{ServingEventKind, ServingKind};
use super::{
    ACCOUNT, Pt, PtStatus, REGION, Store, foundation_model_arn, foundation_model_id, listed,
    required_str,
};
use crate::wire::{ApiError, rfc3339};

impl Store {
    // ---- provisioned throughput ----

    /// CreateProvisionedModelThroughput → `{provisionedModelArn}`; idempotent on
    /// `clientRequestToken`. `modelId` is a custom model (ARN or name) or a foundation model.
    pub fn create_pt(&mut self, body: &Value) -> Result<Value, ApiError> {
        let token = body
            .get("clientRequestToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(token) = &token
            && let Some(pt) = self.pts.iter().find(|p| p.token.as_ref() == Some(token))
        {
            return Ok(json!({ "provisionedModelArn": pt.arn }));
        }
        if self.config.faults.fail_pt_create {
            return Err(ApiError::quota(
                "Insufficient model units quota for provisioned throughput (injected fault).",
            ));
        }
        let name = required_str(body, "provisionedModelName")?.to_owned();
        let model_id = required_str(body, "modelId")?.to_owned();
        let model_units = body
            .get("modelUnits")
            .and_then(Value::as_i64)
            .filter(|u| *u >= 1)
            .ok_or_else(|| {
                ApiError::validation(
                    "Value at 'modelUnits' failed to satisfy constraint: Member must be >= 1",
                )
            })?;
        let commitment = body
            .get("commitmentDuration")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.advance();
        if commitment.is_none() {
            self.check_no_commitment_units(model_units)?;
        }
        if self.pts.iter().any(|p| !p.deleted && p.name == name) {
            return Err(ApiError::validation(format!(
                "A provisioned throughput named {name} already exists."
            )));
        }
        let (model_arn, base_model_id) = match self.find_model_index(&model_id) {
            Ok(index) => (
                self.models[index].arn.clone(),
                self.models[index].base_model_id.clone(),
            ),
            Err(not_found) if model_id.contains(":custom-model/") => return Err(not_found),
            Err(_) => {
                let id = foundation_model_id(&model_id).to_owned();
                self.check_served(crate::families::model_of(&id)?)?;
                (foundation_model_arn(&id), id)
            }
        };
        let id = self.new_id();
        let arn = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/{id}");
        self.pts.push(Pt {
            arn: arn.clone(),
            name,
            token,
            model_arn,
            base_model_id,
            model_units,
            commitment,
            created: SystemTime::now(),
            started: Instant::now(),
            duration: self.config.pt_duration,
            fails: self.config.faults.pt_fails,
            status: PtStatus::Creating,
            deleted: false,
        });
        self.record(ServingKind::Throughput, &arn, ServingEventKind::Created);
        Ok(json!({ "provisionedModelArn": arn }))
    }

    /// The catalog's no-commitment rules: one throughput takes at most `max_model_units_each` model units, and
    /// the account's no-commitment model units ([`crate::EmulatorConfig::no_commitment_model_units`]) cap the
    /// live ones together.
    fn check_no_commitment_units(&self, model_units: i64) -> Result<(), ApiError> {
        let each = bedrock_catalog::catalog()
            .quotas
            .no_commitment_throughput
            .max_model_units_each;
        if model_units > i64::from(each) {
            return Err(ApiError::validation(format!(
                "A Provisioned Throughput without a commitment term takes at most {each} model unit(s), not {model_units}; give commitmentDuration for more."
            )));
        }
        let in_use: i64 = self
            .pts
            .iter()
            .filter(|p| !p.deleted && p.commitment.is_none())
            .map(|p| p.model_units)
            .sum();
        let quota = i64::from(self.config.no_commitment_model_units);
        if in_use + model_units > quota {
            return Err(ApiError::quota(format!(
                "You have exceeded the quota of no-commitment model units for Provisioned Throughput ({quota}): {in_use} in use, {model_units} requested."
            )));
        }
        Ok(())
    }

    pub(super) fn find_pt_index(&self, identifier: &str) -> Result<usize, ApiError> {
        self.pts
            .iter()
            .position(|p| !p.deleted && (p.arn == identifier || p.name == identifier))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Could not find provisioned model throughput {identifier}."
                ))
            })
    }

    fn pt_json(pt: &Pt) -> Value {
        let mut out = json!({
            "provisionedModelArn": pt.arn,
            "provisionedModelName": pt.name,
            "modelArn": pt.model_arn,
            "desiredModelArn": pt.model_arn,
            "foundationModelArn": foundation_model_arn(&pt.base_model_id),
            "modelUnits": pt.model_units,
            "desiredModelUnits": pt.model_units,
            "status": pt.status.as_str(),
            "creationTime": rfc3339(pt.created),
            "lastModifiedTime": rfc3339(if pt.status == PtStatus::Creating { pt.created } else { pt.created + pt.duration }),
        });
        if let Some(c) = &pt.commitment {
            out["commitmentDuration"] = json!(c);
        }
        if pt.status == PtStatus::Failed {
            out["failureMessage"] = json!("Provisioning failed (injected fault).");
        }
        out
    }

    pub fn get_pt(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        Ok(Self::pt_json(&self.pts[self.find_pt_index(identifier)?]))
    }

    pub fn delete_pt(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let index = self.find_pt_index(identifier)?;
        self.pts[index].deleted = true;
        let arn = self.pts[index].arn.clone();
        self.record(ServingKind::Throughput, &arn, ServingEventKind::Deleted);
        Ok(json!({}))
    }

    /// ListProvisionedModelThroughputs (live ones, newest first); filters `statusEquals`,
    /// `nameContains`, `modelArnEquals`.
    pub fn list_pts(&mut self, query: &BTreeMap<String, String>) -> Result<Value, ApiError> {
        self.advance();
        let summaries: Vec<Value> = self
            .pts
            .iter()
            .rev()
            .filter(|p| !p.deleted)
            .filter(|p| listed(query, p.status.as_str(), &p.name, &p.model_arn))
            .map(Self::pt_json)
            .map(|mut v| {
                if let Some(summary) = v.as_object_mut() {
                    summary.remove("failureMessage");
                }
                v
            })
            .collect();
        Ok(json!({ "provisionedModelSummaries": summaries }))
    }
}

//! Preflight against the local stack (moto for IAM, S3 and SESv2; the Bedrock emulator): each problem an account
//! can have before a run is one finding naming the field and what to fix, found with read-only calls only; a
//! run with a problem stops before its first billed call.

mod common;

use bedrock_emulator::{Faults, Quality};
use bertscore_pipeline::preflight::{self, JobKind, Preflight};
use bertscore_pipeline::{ErrorKind, PipelineConfig};
use common::{Harness, SENDER, calls, create_role, emulator_config, parse_config, seed_data_table};

const NOVA: &str = "amazon.nova-micro-v1:0:128k";
/// End of life on Bedrock, and not the AWS sample's model that the local stack serves anyway.
const END_OF_LIFE: &str = "amazon.titan-text-express-v1:0:8k";
/// A role whose trust policy admits customization jobs only (the documented customization role).
const CUSTOMIZATION_ONLY: &str = "CustomizationOnly";

/// Operations that change nothing.
const READS: [&str; 2] = ["GetFoundationModel", "ListProvisionedModelThroughputs"];

impl Harness {
    async fn start() -> Harness {
        let harness =
            Harness::with_emulator(emulator_config(Quality::Better, Faults::default(), |_| {}))
                .await;
        create_role(
            &harness.clients,
            CUSTOMIZATION_ONLY,
            &[JobKind::Customization],
        )
        .await;
        harness
    }

    /// A Nova run on the seed data, with `extra` TOML lines appended to the tables given there.
    fn config(
        &self,
        s3: &str,
        customization: &str,
        inference: &str,
        notify: &str,
    ) -> PipelineConfig {
        let text = format!(
            r#"
            {data}
            [s3]
            bucket = "preflight-test"
            {s3}
            [customization]
            role_arn = "arn:aws:iam::123456789012:role/BedrockCustomization"
            hyper_parameters = {{ epochCount = "1" }}
            {customization}
            [inference]
            {inference}
            [notify]
            to = ["ml-team@example.com"]
            {notify}
            "#,
            data = seed_data_table(),
        );
        parse_config(&text, "preflight.toml")
    }

    async fn check(&self, config: &PipelineConfig) -> Preflight {
        preflight::for_run(config, &self.clients, Vec::new())
            .await
            .unwrap()
    }

    /// Only read calls reached the emulator, and moto holds no bucket.
    async fn assert_nothing_created(&self) {
        let state = self.emulator();
        for operation in state.calls.keys() {
            assert!(
                READS.contains(&operation.as_str()),
                "{operation} called: {:?}",
                state.calls
            );
        }
        let buckets = self.clients.s3.list_buckets().send().await.unwrap();
        assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
    }
}

fn problem_lines(found: &Preflight) -> Vec<String> {
    found.problems.iter().map(ToString::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_account_has_no_problem() {
    let harness = Harness::start().await;
    let config = harness.config(
        "",
        &format!("base_model_id = \"{NOVA}\""),
        "",
        &format!("from = \"{SENDER}\""),
    );
    let found = harness.check(&config).await;
    assert!(found.problems.is_empty(), "{:?}", problem_lines(&found));
    // The bucket is missing and may be created: a note.
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.field == "s3.bucket" && n.message.contains("creates it")),
        "{:?}",
        found.notes
    );
    assert_eq!(calls(&harness.emulator(), "GetFoundationModel"), 1);
    harness.assert_nothing_created().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_problem_is_one_line_naming_the_field() {
    let harness = Harness::start().await;
    let cases = [
        (
            harness.config("create_buckets = false", &format!("base_model_id = \"{NOVA}\""), "", &format!("from = \"{SENDER}\"")),
            "s3.bucket: bucket preflight-test does not exist and s3.create_buckets = false",
        ),
        (
            harness.config("", &format!("base_model_id = \"{NOVA}\""), "", "from = \"someone@example.org\""),
            "notify.from: someone@example.org is not a verified SES identity",
        ),
        (
            harness.config(
                "",
                &format!("base_model_id = \"{NOVA}\""),
                &format!(
                    "mode = \"batch\"\nbatch_min_records = 5\nbatch_role_arn = \"arn:aws:iam::123456789012:role/{CUSTOMIZATION_ONLY}\""
                ),
                &format!("from = \"{SENDER}\""),
            ),
            "inference.batch_role_arn: role arn:aws:iam::123456789012:role/CustomizationOnly: its trust policy lets \
             bedrock.amazonaws.com assume it, but its conditions do not admit model-invocation-job jobs",
        ),
        (
            harness.config("", &format!("base_model_id = \"{END_OF_LIFE}\""), "", &format!("from = \"{SENDER}\"")),
            "customization.base_model_id: amazon.titan-text-express-v1:0:8k",
        ),
    ];
    for (config, line) in cases {
        let found = harness.check(&config).await;
        let lines = problem_lines(&found);
        assert_eq!(lines.len(), 1, "{line}: {lines:?}");
        assert!(lines[0].starts_with(line), "{lines:?}");
        assert!(!lines[0].contains('\n'), "{lines:?}");
        // As a run's error: bad input (exit 2) naming the config file and the line.
        let error = found.into_result("preflight.toml".as_ref()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadInput);
        assert!(error.to_string().contains(line), "{error}");
        assert!(error.to_string().starts_with("preflight.toml: "), "{error}");
    }
    harness.assert_nothing_created().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_a_problem_stops_before_any_billed_call() {
    let harness = Harness::start().await;
    let config = harness.config(
        "create_buckets = false",
        &format!("base_model_id = \"{NOVA}\""),
        "",
        &format!("from = \"{SENDER}\""),
    );
    let mut pipeline = harness.pipeline(config);
    let error = pipeline.execute().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadInput, "{error}");
    assert!(error.to_string().contains("s3.bucket"), "{error}");
    assert_eq!(
        pipeline.state().status,
        bertscore_pipeline::RunStatus::Failed
    );
    harness.assert_nothing_created().await;
    assert!(harness.emails().is_empty());
}

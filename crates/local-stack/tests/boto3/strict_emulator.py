"""boto3 against the Bedrock emulator: what AWS refuses, the emulator refuses the same way.

Run by crates/local-stack/tests/boto3_strict.rs with BEDROCK_ENDPOINT and S3_ENDPOINT set (the local stack's
emulator and moto) and the ARNs of the roles it created in moto's IAM, with the user guide's trust policies:
CUSTOMIZATION_ROLE (customization and batch jobs), BATCH_ROLE (batch jobs) and CUSTOMIZATION_ONLY_ROLE
(customization jobs only). Each check prints its name; the first failure raises (exit status 1).
"""

import json
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

BEDROCK = os.environ["BEDROCK_ENDPOINT"]
S3 = os.environ["S3_ENDPOINT"]
ROLE = os.environ["CUSTOMIZATION_ROLE"]
BATCH_ROLE = os.environ["BATCH_ROLE"]
CUSTOMIZATION_ONLY_ROLE = os.environ["CUSTOMIZATION_ONLY_ROLE"]
BUCKET = "strict-emulator"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, region="us-east-1", endpoint=BEDROCK):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRY,
    )


def refused(code, call, **kwargs):
    """Calls and requires the error `code`; returns its message."""
    try:
        call(**kwargs)
    except ClientError as err:
        got = err.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {err}"
        return err.response["Error"]["Message"]
    raise AssertionError(f"expected {code}, the call succeeded")


def job(name, base, data_key, hyper=None, role=ROLE):
    return dict(
        jobName=name,
        customModelName=f"{name}-model",
        roleArn=role,
        baseModelIdentifier=base,
        customizationType="FINE_TUNING",
        hyperParameters=hyper or {"epochCount": "1"},
        trainingDataConfig={"s3Uri": f"s3://{BUCKET}/{data_key}"},
        outputDataConfig={"s3Uri": f"s3://{BUCKET}/out/"},
    )


def main():
    s3 = client("s3", endpoint=S3)
    s3.create_bucket(Bucket=BUCKET)
    nova_record = {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "assistant", "content": [{"text": "b"}]},
        ],
    }
    s3.put_object(Bucket=BUCKET, Key="nova.jsonl", Body=json.dumps(nova_record) + "\n")
    s3.put_object(Bucket=BUCKET, Key="pc.jsonl", Body='{"prompt": "a", "completion": "b"}\n')
    bedrock = client("bedrock")
    nova = "amazon.nova-micro-v1:0:128k"

    details = bedrock.get_foundation_model(modelIdentifier=nova)["modelDetails"]
    assert details["modelLifecycle"]["status"] == "ACTIVE", details
    assert "FINE_TUNING" in details["customizationsSupported"], details
    print("GetFoundationModel amazon.nova-micro-v1:0:128k: ACTIVE, FINE_TUNING")

    message = refused(
        "ValidationException",
        bedrock.create_custom_model_deployment,
        modelDeploymentName="my.deployment",
        modelArn="arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdefghijkl",
    )
    assert "modelDeploymentName" in message and "pattern" in message, message
    print("a deployment name with a dot: ValidationException")

    message = refused("ValidationException", bedrock.create_model_customization_job, **job("j" * 64, nova, "nova.jsonl"))
    assert "jobName" in message and "63" in message, message
    print("a 64-character job name: ValidationException")

    request = job("enum", nova, "nova.jsonl")
    request["customizationType"] = "FINE_TUNE"
    message = refused("ValidationException", bedrock.create_model_customization_job, **request)
    assert "enum value set" in message, message
    print("an unknown enum value: ValidationException")

    message = refused(
        "ResourceNotFoundException",
        bedrock.create_model_customization_job,
        **job("eol", "cohere.command-text-v14:7:4k", "pc.jsonl"),
    )
    assert "end of its life" in message, message
    print("an end-of-life base model: ResourceNotFoundException")

    west = client("bedrock", region="us-west-2")
    message = refused("ValidationException", west.create_model_customization_job, **job("west", nova, "nova.jsonl"))
    assert "us-west-2" in message, message
    print("Nova customization in us-west-2: ValidationException")

    message = refused(
        "ValidationException",
        bedrock.create_model_customization_job,
        **job("epochs", nova, "nova.jsonl", {"epochCount": "50"}),
    )
    assert "epochCount" in message and "[1, 5]" in message, message
    print("epochCount 50 for Nova: ValidationException")

    base = "amazon.nova-micro-v1:0"
    message = refused(
        "ValidationException",
        bedrock.create_provisioned_model_throughput,
        modelUnits=2,
        provisionedModelName="two-units",
        modelId=base,
    )
    assert "commitment" in message, message
    print("modelUnits 2 without a commitment term: ValidationException")

    for name in ["pt-1", "pt-2"]:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName=name, modelId=base)
    refused(
        "ServiceQuotaExceededException",
        bedrock.create_provisioned_model_throughput,
        modelUnits=1,
        provisionedModelName="pt-3",
        modelId=base,
    )
    print("a third no-commitment throughput: ServiceQuotaExceededException")

    def batch_input(key, count):
        records = "".join(
            json.dumps(
                {"recordId": f"r{i}", "modelInput": {"messages": [{"role": "user", "content": [{"text": f"q{i}"}]}]}}
            )
            + "\n"
            for i in range(count)
        )
        s3.put_object(Bucket=BUCKET, Key=key, Body=records)

    def batch_job(name, key, role=BATCH_ROLE):
        return dict(
            jobName=name,
            roleArn=role,
            modelId=base,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{key}"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/batch/out/"}},
        )

    batch_input("batch/99.jsonl", 99)
    batch_input("batch/100.jsonl", 100)
    message = refused(
        "ValidationException", bedrock.create_model_invocation_job, **batch_job("ninety-nine", "batch/99.jsonl")
    )
    assert "99 records" in message and "at least 100" in message, message
    print("a 99-record batch job: ValidationException")

    message = refused(
        "ValidationException",
        bedrock.create_model_invocation_job,
        **batch_job("customization-role", "batch/100.jsonl", role=CUSTOMIZATION_ONLY_ROLE),
    )
    assert message.startswith("Could not assume provided IAM role."), message
    assert "model-invocation-job" in message, message
    print("a batch role whose trust policy admits only customization jobs: ValidationException")

    missing = "arn:aws:iam::123456789012:role/NoSuchRole"
    message = refused(
        "ValidationException",
        bedrock.create_model_customization_job,
        **job("no-role", nova, "nova.jsonl", role=missing),
    )
    assert message.startswith("Could not assume provided IAM role.") and "NoSuchRole" in message, message
    print("a role that does not exist: ValidationException")

    arn = bedrock.create_model_invocation_job(**batch_job("hundred", "batch/100.jsonl"))["jobArn"]
    assert ":model-invocation-job/" in arn, arn
    print("a 100-record batch job with the batch role: created")


if __name__ == "__main__":
    main()

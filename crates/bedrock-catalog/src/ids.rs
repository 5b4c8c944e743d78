//! Model id spellings: the one place that takes a foundation-model ARN or a cross-region inference profile
//! apart.

/// The geography prefixes of cross-region (system-defined) inference profiles: `us.amazon.nova-lite-v1:0`.
pub const GEO_PREFIXES: [&str; 6] = ["us.", "eu.", "apac.", "us-gov.", "jp.", "global."];

/// The plain foundation-model id inside `id`: the resource of a foundation-model ARN
/// (`arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0`) or of an inference-profile ARN, without
/// a cross-region inference profile prefix (`us.`, `eu.`, ...). Any other id is returned as it is (custom model
/// and provisioned-throughput ARNs name no foundation model).
pub fn foundation_model_id(id: &str) -> &str {
    let resource = match id.strip_prefix("arn:") {
        Some(_) => {
            let resource = id.splitn(6, ':').nth(5).unwrap_or("");
            match resource.split_once('/') {
                Some(("foundation-model" | "inference-profile", rest)) => rest,
                _ => return id,
            }
        }
        None => id,
    };
    GEO_PREFIXES
        .iter()
        .find_map(|prefix| resource.strip_prefix(prefix))
        .unwrap_or(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_arns_and_profiles_apart() {
        assert_eq!(
            foundation_model_id("amazon.nova-micro-v1:0"),
            "amazon.nova-micro-v1:0"
        );
        assert_eq!(
            foundation_model_id("us.amazon.nova-lite-v1:0"),
            "amazon.nova-lite-v1:0"
        );
        assert_eq!(
            foundation_model_id(
                "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0"
            ),
            "meta.llama3-1-8b-instruct-v1:0"
        );
        assert_eq!(
            foundation_model_id(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"
            ),
            "amazon.nova-pro-v1:0"
        );
        let custom =
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abc";
        assert_eq!(foundation_model_id(custom), custom);
    }
}

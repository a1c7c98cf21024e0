//! Property tests of the configuration parser: whatever text it gets, it
//! answers Ok or a clear error, and never panics.

use aws_flow_exporter::config::Config;
use proptest::prelude::*;

const VALID: &str = "collection:
  interval: 60s
  lookback: 7d
  max_concurrency: 8
  requests_per_second: 5
  timeout: 20s
targets:
  - region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/flow-exporter
    external_id: x
    labels: { account: prod }
    services:
      appflow: { enabled: true, include: ['^sales-'], exclude: ['-test$'] }
      transfer: { enabled: true, include: [], exclude: [] }
      supplychain: { enabled: false }
      customerprofiles: { enabled: true, domains: [a, b] }
";

/// Pieces YAML is made of, so that mutations stay close to real files.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(":".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("- ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("~".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("99999999999999999999d".to_string()),
        Just("0s".to_string()),
        Just("(".to_string()),
        Just("\\u{0}".to_string()),
        Just("é".to_string()),
        "[a-z_]{1,12}",
        "[ -~]{0,8}",
    ]
}

fn check(text: &str) {
    if let Err(e) = Config::parse(text) {
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        edits in prop::collection::vec((0usize..VALID.len(), 0usize..8, token()), 1..6),
    ) {
        let mut text = VALID.to_string();
        for (at, remove, insert) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + remove).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(at..end, &insert);
        }
        check(&text);
    }

    #[test]
    fn truncated_valid_files_never_panic(len in 0usize..VALID.len()) {
        check(&VALID[..len]);
    }
}

#[test]
fn the_fuzzed_base_file_is_valid() {
    Config::parse(VALID).expect("the base of the mutations is valid");
}

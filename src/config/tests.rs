//! Tests of the configuration: parsing, defaults, errors with paths and lines.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;

use super::*;
use crate::services::SERVICES;

fn err(text: &str) -> ConfigError {
    match Config::parse(text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => {
            println!("{e}");
            e
        }
    }
}

fn ok(text: &str) -> Config {
    match Config::parse(text) {
        Ok(config) => config,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn line(e: &ConfigError) -> Option<usize> {
    e.location().map(|l| l.line)
}

fn path(e: &ConfigError) -> Option<&str> {
    e.field_path()
}

const EXAMPLE: &str = r#"
collection:
  interval: 60s            # how often every target is collected
  lookback: 7d             # executions started earlier are ignored
  max_concurrency: 8       # AWS requests in flight per target
  requests_per_second: 5   # per target and service; AWS's own API quotas are low
  timeout: 20s             # per AWS request attempt
targets:
  - region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/flow-exporter   # optional: assume this role
    external_id: optional-external-id                         # optional, with role_arn
    labels: { account: prod }                                 # added to every series of this target
    services:
      appflow:
        enabled: true
        include: ["^sales-"]     # regular expressions on the flow name; empty = all
        exclude: ["-test$"]
      transfer: { enabled: true, include: [], exclude: [], log_groups: auto }   # on workflow ids; log_groups (v3): auto or a list of names; omitted: logs not read
      supplychain: { enabled: true, include: [], exclude: [] }       # on flow names
      customerprofiles: { enabled: true, domains: [] }               # empty = every domain
"#;

fn strs(res: &[Regex]) -> Vec<&str> {
    res.iter().map(Regex::as_str).collect()
}

/// Every service of the registry, in its order, enabled with no filter.
fn assert_all_enabled_unfiltered(services: &[ServiceSettings]) {
    let names: Vec<&str> = services.iter().map(|s| s.name).collect();
    let registry: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
    assert_eq!(names, registry);
    for s in services {
        assert_unfiltered(s);
    }
}

fn assert_unfiltered(s: &ServiceSettings) {
    assert!(s.enabled, "{}", s.name);
    assert!(s.filter.include().is_empty() && s.filter.exclude().is_empty());
    assert!(s.filter.shard().is_none());
    assert!(s.domains.is_empty());
    assert_eq!(s.log_groups, None);
}

/// The settings of service `name` of the first target.
fn service<'a>(config: &'a Config, name: &str) -> &'a ServiceSettings {
    config.targets[0]
        .service(name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn assert_default_config(config: &Config) {
    assert_eq!(config.collection, Collection::default());
    assert_eq!(config.targets.len(), 1);
    let t = &config.targets[0];
    assert_eq!(t.region, None);
    assert_eq!(t.role_arn, None);
    assert_eq!(t.external_id, None);
    assert!(t.labels.is_empty());
    assert_all_enabled_unfiltered(&t.services);
}

/// A one-target file with `extra` appended under the target (4-space indent).
fn target(extra: &str) -> String {
    format!("targets:\n  - region: us-east-1\n{extra}")
}

#[test]
fn full_example_parses() {
    let config = ok(EXAMPLE);
    assert_eq!(
        config.collection,
        Collection {
            interval: Duration::from_secs(60),
            lookback: Duration::from_secs(7 * 86_400),
            max_concurrency: 8,
            requests_per_second: 5.0,
            timeout: Duration::from_secs(20),
        }
    );
    assert_eq!(config.targets.len(), 1);
    let t = &config.targets[0];
    assert_eq!(t.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        t.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/flow-exporter")
    );
    assert_eq!(t.external_id.as_deref(), Some("optional-external-id"));
    assert_eq!(
        t.labels,
        BTreeMap::from([("account".to_owned(), "prod".to_owned())])
    );
    let appflow = config.targets[0].service("appflow").unwrap();
    assert!(appflow.enabled);
    assert_eq!(strs(appflow.filter.include()), ["^sales-"]);
    assert_eq!(strs(appflow.filter.exclude()), ["-test$"]);
    assert!(appflow.filter.matches("sales-daily"));
    assert!(!appflow.filter.matches("sales-daily-test"));
    assert!(!appflow.filter.matches("marketing"));
    let transfer = service(&config, "transfer");
    assert_eq!(transfer.log_groups, Some(LogGroups::Auto));
    assert_unfiltered(&ServiceSettings {
        log_groups: None,
        ..transfer.clone()
    });
    for s in t
        .services
        .iter()
        .filter(|s| !["appflow", "transfer"].contains(&s.name))
    {
        assert_unfiltered(s);
    }
}

#[test]
fn empty_file_gives_defaults() {
    for text in [
        "",
        "\n",
        "# only a comment\n",
        "{}",
        "{}\n",
        "collection:\n",
    ] {
        assert_default_config(&ok(text));
    }
    assert_default_config(&Config::default());
    assert_eq!(
        Collection::default(),
        Collection {
            interval: Duration::from_secs(60),
            lookback: Duration::from_secs(7 * 86_400),
            max_concurrency: 8,
            requests_per_second: 5.0,
            timeout: Duration::from_secs(20),
        }
    );
}

#[test]
fn defaults_when_keys_omitted() {
    let config = ok("collection:\n  interval: 30s\n  max_concurrency: 2\n");
    assert_eq!(
        config.collection,
        Collection {
            interval: Duration::from_secs(30),
            max_concurrency: 2,
            ..Collection::default()
        }
    );
    assert_eq!(config.targets.len(), 1);
    assert_eq!(config.targets[0].region, None);

    let config = ok("targets:\n  - region: eu-west-1\n");
    assert_eq!(config.collection, Collection::default());
    let t = &config.targets[0];
    assert_eq!(t.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        (t.role_arn.as_deref(), t.external_id.as_deref()),
        (None, None)
    );
    assert!(t.labels.is_empty());
    assert_all_enabled_unfiltered(&t.services);

    // A services block with some services, some keys, or null values.
    let config = ok(&target(concat!(
        "    services:\n",
        "      appflow: { include: [a] }\n",
        "      transfer: { enabled: false }\n",
        "      supplychain:\n",
        "      customerprofiles: { domains: [d1, d2] }\n",
    )));
    let appflow = service(&config, "appflow");
    assert!(appflow.enabled);
    assert_eq!(strs(appflow.filter.include()), ["a"]);
    assert!(appflow.filter.exclude().is_empty());
    assert!(!service(&config, "transfer").enabled);
    assert!(service(&config, "supplychain").enabled);
    assert!(service(&config, "customerprofiles").enabled);
    assert_eq!(service(&config, "customerprofiles").domains, ["d1", "d2"]);

    let config = ok(&target("    services: {}\n    labels: {}\n"));
    assert_all_enabled_unfiltered(&config.targets[0].services);
    assert!(config.targets[0].labels.is_empty());
}

#[test]
fn duration_forms() {
    for (text, expected) in [
        ("500ms", Duration::from_millis(500)),
        ("30s", Duration::from_secs(30)),
        ("5m", Duration::from_secs(300)),
        ("1h", Duration::from_secs(3600)),
        ("7d", Duration::from_secs(7 * 86_400)),
        ("1h 30m", Duration::from_secs(5400)),
        ("\"2m\"", Duration::from_secs(120)),
    ] {
        let c = ok(&format!(
            "collection:\n  interval: {text}\n  lookback: {text}\n  timeout: {text}\n"
        ))
        .collection;
        assert_eq!(
            (c.interval, c.lookback, c.timeout),
            (expected, expected, expected)
        );
    }
}

#[test]
fn bad_duration() {
    let e = err("collection:\n  interval: 60s\n  lookback: 5 parsecs\n");
    assert_eq!(path(&e), Some("collection.lookback"));
    assert_eq!(line(&e), Some(3));
    assert!(e.to_string().starts_with(
        "collection.lookback: invalid duration \"5 parsecs\": unknown time unit \"parsecs\""
    ));

    let e = err("collection:\n  timeout: 0s\n");
    assert_eq!(path(&e), Some("collection.timeout"));
    assert_eq!(line(&e), Some(2));
    assert!(e.to_string().contains("greater than zero"));

    let e = err("collection:\n  interval: 60\n");
    assert_eq!(path(&e), Some("collection.interval"));
    assert!(e.to_string().contains("time unit needed"));

    let e = err("collection:\n  interval: 100000d\n");
    assert!(e.to_string().contains("at most 3650d"));

    let e = err("collection:\n  interval: [1s]\n");
    assert_eq!(path(&e), Some("collection.interval"));
    assert_eq!(line(&e), Some(2));
}

#[test]
fn bad_regex_names_path_and_line() {
    let text = EXAMPLE.replace(r#"include: ["^sales-"]"#, r#"include: ["^sales-", "(["]"#);
    let e = err(&text);
    assert_eq!(path(&e), Some("targets[0].services.appflow.include[1]"));
    // Line 1 of EXAMPLE is empty; the include list is on line 16.
    assert_eq!(
        e.to_string(),
        "targets[0].services.appflow.include[1]: invalid regular expression \"([\": \
         unclosed character class (line 16, column 30)"
    );

    let e = err(&target(concat!(
        "    services:\n",
        "      transfer:\n",
        "        exclude:\n",
        "          - ok\n",
        "          - \"a{2,1}\"\n",
    )));
    assert_eq!(path(&e), Some("targets[0].services.transfer.exclude[1]"));
    assert_eq!(line(&e), Some(7));
    assert!(e
        .to_string()
        .contains("invalid regular expression \"a{2,1}\""));
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn unknown_keys_are_errors() {
    // The path ends with the unknown key itself.
    let e = err("collection:\n  interval: 5s\n  intervall: 5s\n");
    assert_eq!(path(&e), Some("collection.intervall"));
    assert_eq!(line(&e), Some(3));
    assert!(e.to_string().starts_with(
        "collection.intervall: unknown field `intervall`, expected one of `interval`"
    ));

    let e = err("collection: {}\ntarget: []\n");
    assert_eq!(path(&e), Some("target"));
    assert_eq!(line(&e), Some(2));
    assert!(e.to_string().starts_with("target: unknown field `target`"));

    let e = err(&target(
        "    services:\n      appflow: { enabled: true, includes: [] }\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.appflow.includes"));
    assert_eq!(line(&e), Some(4));
    assert!(e
        .to_string()
        .contains("unknown field `includes`, expected one of `enabled`, `include`, `exclude`"));

    let e = err(&target("    labels: { a: b }\n    service: {}\n"));
    assert_eq!(path(&e), Some("targets[0].service"));
    assert_eq!(line(&e), Some(4));
}

#[test]
fn missing_or_bad_region() {
    let e = err("targets:\n  - role_arn: arn:aws:iam::1:role/x\n");
    assert_eq!(path(&e), Some("targets[0]"));
    assert_eq!(line(&e), Some(2));
    assert!(e.to_string().contains("missing field `region`"));

    for (value, message) in [
        ("\"\"", "region must not be empty"),
        ("US-East-1", "invalid region \"US-East-1\""),
        ("useast1", "invalid region"),
        ("us-east", "invalid region"),
        ("us-east-1a", "invalid region"),
        ("u-east-1", "invalid region"),
        ("us--1", "invalid region"),
        ("[a]", "invalid type: sequence"),
    ] {
        let e = err(&format!(
            "targets:\n  - region: us-east-1\n  - region: {value}\n"
        ));
        assert_eq!(path(&e), Some("targets[1].region"), "{value}");
        assert_eq!(line(&e), Some(3), "{value}");
        assert!(e.to_string().contains(message), "{value}: {e}");
    }

    for region in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2"] {
        let config = ok(&format!("targets:\n  - region: {region}\n"));
        assert_eq!(config.targets[0].region.as_deref(), Some(region));
    }
}

#[test]
fn max_concurrency_and_rate() {
    for value in ["-1", "0", "1001"] {
        let e = err(&format!("collection:\n  max_concurrency: {value}\n"));
        assert_eq!(path(&e), Some("collection.max_concurrency"));
        assert_eq!(line(&e), Some(2));
        assert!(
            e.to_string().contains(&format!(
                "must be an integer between 1 and 1000, got {value}"
            )),
            "{e}"
        );
    }
    let e = err("collection:\n  max_concurrency: 1.5\n");
    assert_eq!(path(&e), Some("collection.max_concurrency"));
    for (value, expected) in [("1", 1), ("1000", 1000)] {
        let config = ok(&format!("collection:\n  max_concurrency: {value}\n"));
        assert_eq!(config.collection.max_concurrency, expected);
    }

    for value in ["0", "-2", "0.0", ".nan", ".inf", "0.0001", "20000", "fast"] {
        let e = err(&format!("collection:\n  requests_per_second: {value}\n"));
        assert_eq!(path(&e), Some("collection.requests_per_second"), "{value}");
        assert_eq!(line(&e), Some(2), "{value}");
    }
    for (value, expected) in [("0.5", 0.5), ("2", 2.0), ("0.001", 0.001), ("10000", 1e4)] {
        let config = ok(&format!("collection:\n  requests_per_second: {value}\n"));
        assert_eq!(config.collection.requests_per_second, expected);
    }
}

#[test]
fn label_names() {
    let e = err(&target("    labels:\n      team: a\n      __x: b\n"));
    assert_eq!(path(&e), Some("targets[0].labels.__x"));
    assert_eq!(line(&e), Some(5));
    assert!(e.to_string().contains("reserved"));

    let e = err(&target("    labels: { region: eu }\n"));
    assert_eq!(path(&e), Some("targets[0].labels.region"));
    assert_eq!(line(&e), Some(3));
    assert!(e
        .to_string()
        .contains("the exporter sets this label itself"));

    for name in RESERVED_LABEL_NAMES.iter() {
        let e = err(&target(&format!("    labels: {{ {name}: x }}\n")));
        assert_eq!(path(&e), Some(format!("targets[0].labels.{name}").as_str()));
    }

    for name in ["5a", "a-b", "\"\"", "\"a b\"", "é"] {
        let e = err(&target(&format!("    labels:\n      {name}: x\n")));
        assert!(e.to_string().contains("invalid label name"), "{name}: {e}");
        assert_eq!(line(&e), Some(4));
    }

    let e = err(&target("    labels:\n      a: x\n      a: y\n"));
    assert_eq!(path(&e), Some("targets[0].labels"));
    assert!(e.to_string().contains("label \"a\" is set more than once"));

    let config = ok(&target("    labels: { _a: x, B9_z: y, regions: z }\n"));
    assert_eq!(
        config.targets[0].labels.keys().collect::<Vec<_>>(),
        ["B9_z", "_a", "regions"]
    );
}

#[test]
fn label_values_keep_scalar_text() {
    let config = ok(&target(concat!(
        "    labels:\n",
        "      account: 012345678901\n",
        "      big: 123456789012345678901234567890\n",
        "      ratio: 1.50\n",
        "      hex: 0x1F\n",
        "      on: true\n",
        "      neg: -3\n",
        "      quoted: \"42\"\n",
        "      text: hello world\n",
    )));
    let labels = &config.targets[0].labels;
    let expected = [
        ("account", "012345678901"),
        ("big", "123456789012345678901234567890"),
        ("ratio", "1.50"),
        ("hex", "0x1F"),
        ("on", "true"),
        ("neg", "-3"),
        ("quoted", "42"),
        ("text", "hello world"),
    ];
    assert_eq!(
        *labels,
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    );

    for (value, message) in [
        ("{ a: 1 }", "invalid type: map"),
        ("[1, 2]", "invalid type: sequence"),
        ("~", "not null"),
        ("", "not null"),
        ("\"\"", "must not be empty"),
    ] {
        let e = err(&target(&format!("    labels:\n      team: {value}\n")));
        assert_eq!(path(&e), Some("targets[0].labels.team"), "{value}");
        assert_eq!(line(&e), Some(4), "{value}");
        assert!(e.to_string().contains(message), "{value}: {e}");
    }
}

#[test]
fn role_arn_and_external_id() {
    let e = err(&target("    external_id: abc\n"));
    assert_eq!(
        e.to_string(),
        "targets[0].external_id: external_id requires role_arn"
    );
    assert_eq!(line(&e), None);

    let e = err(&target("    role_arn: aws:iam::1:role/x\n"));
    assert_eq!(path(&e), Some("targets[0].role_arn"));
    assert_eq!(line(&e), Some(3));
    assert!(e.to_string().contains("must start with \"arn:\""));

    let config = ok(&target("    role_arn: arn:aws:iam::1:role/x\n"));
    assert_eq!(
        config.targets[0].role_arn.as_deref(),
        Some("arn:aws:iam::1:role/x")
    );
    assert_eq!(config.targets[0].external_id, None);
}

#[test]
fn duplicate_targets() {
    let e = err(concat!(
        "targets:\n",
        "  - { region: us-east-1, labels: { account: a } }\n",
        "  - { region: us-east-1, labels: { account: b } }\n",
        "  - { region: us-east-1, labels: { account: a }, services: { appflow: { enabled: false } } }\n",
    ));
    assert_eq!(path(&e), Some("targets[2]"));
    assert!(e
        .to_string()
        .starts_with("targets[2]: duplicates targets[0]"));

    let e = err(concat!(
        "targets:\n",
        "  - { region: eu-west-1, role_arn: \"arn:x\", external_id: a }\n",
        "  - { region: eu-west-1, role_arn: \"arn:x\", external_id: b }\n",
    ));
    assert_eq!(path(&e), Some("targets[1]"));

    // Any difference in region, role or labels is enough.
    let config = ok(concat!(
        "targets:\n",
        "  - { region: us-east-1 }\n",
        "  - { region: us-east-2 }\n",
        "  - { region: us-east-1, role_arn: \"arn:x\" }\n",
        "  - { region: us-east-1, labels: { a: b } }\n",
    ));
    assert_eq!(config.targets.len(), 4);
}

#[test]
fn targets_must_not_be_empty() {
    let e = err("targets: []\n");
    assert_eq!(path(&e), Some("targets"));
    assert_eq!(line(&e), Some(1));
    assert!(e
        .to_string()
        .starts_with("targets: at least one target is required"));

    let e = err("collection: {}\ntargets:\n");
    assert_eq!(e.to_string(), "targets: at least one target is required");
}

#[test]
fn customer_profiles_domains() {
    let e = err(&target(
        "    services:\n      customerprofiles:\n        domains: [a, \"\"]\n",
    ));
    assert_eq!(
        path(&e),
        Some("targets[0].services.customerprofiles.domains[1]")
    );
    assert_eq!(line(&e), Some(5));
    assert!(e.to_string().contains("must not be empty"));

    let e = err(&target(
        "    services:\n      customerprofiles:\n        domains: [a, b, a]\n",
    ));
    assert_eq!(
        path(&e),
        Some("targets[0].services.customerprofiles.domains")
    );
    assert!(e
        .to_string()
        .contains("domain \"a\" is listed more than once"));
}

#[test]
fn yaml_errors_without_path() {
    let e = err("\tcollection: {}\n");
    assert_eq!(path(&e), None);
    assert_eq!(line(&e), Some(1));
    assert!(!e.to_string().contains(" at line "));

    let e = err("- a\n");
    assert_eq!(path(&e), None);
    assert!(e.to_string().starts_with("invalid type: sequence"));

    let e = err("{}\n---\n{}\n");
    assert_eq!(path(&e), None);
    assert!(e.to_string().contains("more than one document"));

    let e = err("collection:\n  interval: 5s\n  timeout: 'a\n");
    assert_eq!(line(&e), Some(4));
    assert!(e.to_string().contains("unexpected end of stream"));
}

#[test]
fn name_filter_semantics() {
    let re = |s: &str| Regex::new(s).unwrap();
    let all = NameFilter::default();
    assert!(all.matches("anything") && all.matches(""));

    // Empty include = all, but excludes still apply.
    let f = NameFilter::new(vec![], vec![re("-test$")]);
    assert!(f.matches("sales"));
    assert!(!f.matches("sales-test"));

    // Unanchored search.
    let f = NameFilter::new(vec![re("sales")], vec![]);
    assert!(f.matches("eu-sales-daily"));
    assert!(!f.matches("marketing"));
    let f = NameFilter::new(vec![re("^sales$")], vec![]);
    assert!(f.matches("sales") && !f.matches("sales-daily"));

    // Any include suffices; exclude wins.
    let f = NameFilter::new(vec![re("^a"), re("^b")], vec![re("x")]);
    assert!(f.matches("a1") && f.matches("b1"));
    assert!(!f.matches("c1"));
    assert!(!f.matches("ax"));
}

#[test]
fn load_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, EXAMPLE).unwrap();
    let config = Config::load(&file).unwrap();
    assert_eq!(config.targets[0].region.as_deref(), Some("us-east-1"));

    let missing = dir.path().join("missing.yaml");
    let e = Config::load(&missing).unwrap_err();
    println!("{e}");
    assert!(matches!(e, ConfigError::Read { .. }));
    let text = e.to_string();
    assert!(text.starts_with(&format!("cannot read {}: ", missing.display())));
    assert!(text.contains("No such file"));

    std::fs::write(&file, "collection:\n  timeout: soon\n").unwrap();
    let e = Config::load(&file).unwrap_err();
    assert_eq!(path(&e), Some("collection.timeout"));
    assert_eq!(line(&e), Some(2));
}

mod services;
mod shards;

//! The `services` blocks, read from the registry: order, keys, forms.

use super::*;

#[test]
fn services_follow_the_registry_order_whatever_the_file_order() {
    let config = ok(&target(concat!(
        "    services:\n",
        "      customerprofiles: { enabled: false }\n",
        "      appflow: { exclude: [x] }\n",
    )));
    let t = &config.targets[0];
    let names: Vec<&str> = t.services.iter().map(|s| s.name).collect();
    assert_eq!(names, SERVICES.iter().map(|s| s.name).collect::<Vec<_>>());
    assert!(!service(&config, "customerprofiles").enabled);
    assert_eq!(strs(service(&config, "appflow").filter.exclude()), ["x"]);
    assert_unfiltered(service(&config, "transfer"));
    assert!(t.service("glue").is_none());

    // An omitted `services` block, `services:` with no value, or a service written
    // with no value: every service enabled with no filter.
    for extra in ["", "    services:\n", "    services:\n      appflow:\n"] {
        let config = ok(&target(extra));
        assert_all_enabled_unfiltered(&config.targets[0].services);
    }
    assert_all_enabled_unfiltered(&Target::default().services);
}

#[test]
fn unknown_service() {
    let e = err(&target(
        "    services:\n      appflow: {}\n      glue: { enabled: true }\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.glue"));
    assert_eq!(line(&e), Some(5));
    let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
    assert_eq!(
        e.to_string(),
        format!(
            "targets[0].services.glue: unknown service `glue`, expected one of {} \
             (line 5, column 7)",
            names.join(", ")
        )
    );
    assert!(e
        .to_string()
        .contains("expected one of appflow, transfer, supplychain, customerprofiles"));

    let e = err(&target("    services: [appflow]\n"));
    assert_eq!(path(&e), Some("targets[0].services"));
    assert!(
        e.to_string().contains("expected a mapping of services"),
        "{e}"
    );
}

#[test]
fn a_service_accepts_only_its_own_keys() {
    let e = err(&target(
        "    services:\n      appflow:\n        enabled: true\n        domains: [a]\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.appflow.domains"));
    assert_eq!(line(&e), Some(6));
    assert!(e
        .to_string()
        .contains("unknown field `domains`, expected one of `enabled`, `include`, `exclude`"));

    let e = err(&target(
        "    services:\n      customerprofiles: { include: [a] }\n",
    ));
    assert_eq!(
        path(&e),
        Some("targets[0].services.customerprofiles.include")
    );
    assert_eq!(line(&e), Some(4));
    assert!(e
        .to_string()
        .contains("unknown field `include`, expected `enabled` or `domains`"));

    let e = err(&target(
        "    services:\n      supplychain: { log_groups: auto }\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.supplychain.log_groups"));

    // A block that is not a mapping says which keys it takes.
    let e = err(&target("    services:\n      transfer: [a]\n"));
    assert_eq!(path(&e), Some("targets[0].services.transfer"));
    assert_eq!(line(&e), Some(4));
    assert!(e
        .to_string()
        .contains("expected a mapping with keys enabled, include, exclude and log_groups"));
    let e = err(&target(
        "    services:\n      appflow: { enabled: maybe }\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.appflow.enabled"));
    assert_eq!(line(&e), Some(4));
}

#[test]
fn a_service_or_key_written_twice() {
    let e = err(&target(
        "    services:\n      appflow: {}\n      transfer: {}\n      appflow: {}\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.appflow"));
    assert_eq!(line(&e), Some(6));
    assert!(e.to_string().contains("duplicate field `appflow`"), "{e}");

    let e = err(&target(
        "    services:\n      transfer: { include: [a], include: [b] }\n",
    ));
    assert_eq!(path(&e), Some("targets[0].services.transfer.include"));
    assert!(e.to_string().contains("duplicate field `include`"), "{e}");
}

#[test]
fn log_groups_forms() {
    let services = |value: &str| {
        target(&format!(
            "    services:\n      transfer:\n        log_groups: {value}\n"
        ))
    };
    let log_groups = |config: &Config| service(config, "transfer").log_groups.clone();

    assert_eq!(log_groups(&ok(&services("auto"))), Some(LogGroups::Auto));
    assert_eq!(log_groups(&ok(&services("'auto'"))), Some(LogGroups::Auto));
    assert_eq!(
        log_groups(&ok(&services("[/aws/transfer/s-1, \"/custom/group\"]"))),
        Some(LogGroups::Names(vec![
            "/aws/transfer/s-1".to_owned(),
            "/custom/group".to_owned()
        ]))
    );
    assert_eq!(log_groups(&ok(&services("~"))), None);
    assert_eq!(log_groups(&ok(&target(""))), None);
    // The other keys of the block still apply.
    let config = ok(&target(
        "    services:\n      transfer: { enabled: false, include: [w-], log_groups: auto }\n",
    ));
    let transfer = service(&config, "transfer");
    assert!(!transfer.enabled);
    assert_eq!(strs(transfer.filter.include()), ["w-"]);

    // A repeated name is an error at its own index and line.
    let e = err(&target(concat!(
        "    services:\n",
        "      transfer:\n",
        "        log_groups:\n",
        "          - /a\n",
        "          - /b\n",
        "          - /a\n",
    )));
    assert_eq!(path(&e), Some("targets[0].services.transfer.log_groups[2]"));
    assert_eq!(line(&e), Some(8));
    assert!(e
        .to_string()
        .contains("log group \"/a\" is listed more than once"));

    for (value, index, message) in [
        ("[/a, \"\"]", "[1]", "log group name must not be empty"),
        ("[\" \"]", "[0]", "log group name must not be empty"),
        (
            "[[/a]]",
            "[0]",
            "invalid type: sequence, expected a log group name",
        ),
        ("[{a: b}]", "[0]", "invalid type: map"),
        (
            "\"\"",
            "",
            "invalid value: string \"\", expected `auto` or a list of log group names",
        ),
        ("automatic", "", "invalid value: string \"automatic\""),
        (
            "5",
            "",
            "invalid type: integer `5`, expected `auto` or a list",
        ),
        ("true", "", "invalid type: boolean `true`"),
        ("{ a: b }", "", "invalid type: map"),
        ("[]", "", "at least one log group"),
    ] {
        let e = err(&services(value));
        assert_eq!(
            path(&e),
            Some(format!("targets[0].services.transfer.log_groups{index}").as_str()),
            "{value}"
        );
        assert!(e.to_string().contains(message), "{value}: {e}");
        if !index.is_empty() || value != "[]" {
            assert_eq!(line(&e), Some(5), "{value}");
        }
    }
}

#[test]
fn load_with_text_returns_what_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, EXAMPLE).unwrap();
    let (config, text) = Config::load_with_text(&file).unwrap();
    assert_eq!(text, EXAMPLE);
    assert_eq!(config.targets[0].region.as_deref(), Some("us-east-1"));
    let e = Config::load_with_text(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
}

#[test]
fn every_family_label_is_reserved() {
    for family in crate::services::SERVICES
        .iter()
        .flat_map(|s| s.families.iter())
    {
        for label in family.labels {
            assert!(
                RESERVED_LABEL_NAMES.contains(label),
                "{}: {label} is not a reserved label name",
                family.name
            );
        }
    }
}

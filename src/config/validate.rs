//! From the file schema to the runtime model: defaults for what the file omits,
//! and the checks that concern several fields (`external_id` without
//! `role_arn`, duplicate targets, `targets` written as null). These errors name
//! the field's path but carry no line: the checks on single values, which know
//! it, are done while deserializing (see [`super::schema`]).

use std::collections::BTreeMap;

use regex::Regex;

use super::error::ConfigError;
use super::model::{Collection, ServiceSettings, Target};
use super::schema::{FileConfig, FileService, FileServices, Pattern, TargetList, NO_TARGETS};
use super::Config;
use crate::filter::NameFilter;
use crate::services::SERVICES;

/// Validates a deserialized file.
pub(super) fn validate(file: FileConfig) -> Result<Config, ConfigError> {
    let collection = match file.collection {
        None => Collection::default(),
        Some(c) => {
            let default = Collection::default();
            Collection {
                interval: c.interval.map_or(default.interval, |d| d.0),
                lookback: c.lookback.map_or(default.lookback, |d| d.0),
                max_concurrency: c.max_concurrency.map_or(default.max_concurrency, |n| n.0),
                requests_per_second: c
                    .requests_per_second
                    .map_or(default.requests_per_second, |r| r.0),
                timeout: c.timeout.map_or(default.timeout, |d| d.0),
            }
        }
    };

    let discovery = file.discovery.map(super::discovery::validate).transpose()?;
    let file_targets = match file.targets {
        // With discovery, no static target unless written: the default one would
        // collect the exporter's own account twice.
        None if discovery.is_some() => Vec::new(),
        None => {
            return Ok(Config {
                collection,
                targets: vec![Target::default()],
                discovery,
            })
        }
        Some(None) if discovery.is_some() => Vec::new(),
        Some(None) => return Err(ConfigError::at("targets", NO_TARGETS)),
        Some(Some(TargetList(targets))) => targets,
    };

    let mut targets = Vec::with_capacity(file_targets.len());
    for (i, t) in file_targets.into_iter().enumerate() {
        let role_arn = t.role_arn.map(|r| r.0);
        if t.external_id.is_some() && role_arn.is_none() {
            return Err(ConfigError::at(
                format!("targets[{i}].external_id"),
                "external_id requires role_arn",
            ));
        }
        targets.push(Target {
            region: Some(t.region.0),
            role_arn,
            external_id: t.external_id,
            labels: t.labels.map(|l| l.0).unwrap_or_default(),
            services: services(t.services),
        });
    }

    // Targets whose series would carry the same label set.
    let mut seen = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        let key = (&t.region, &t.role_arn, &t.labels);
        if let Some(j) = seen.insert(key, i) {
            return Err(ConfigError::at(
                format!("targets[{i}]"),
                format!(
                    "duplicates targets[{j}] (same region, role_arn and labels, \
                     so their series would collide)"
                ),
            ));
        }
    }

    Ok(Config {
        collection,
        targets,
        discovery,
    })
}

/// One [`ServiceSettings`] per registered service, in the registry's order: from
/// its block when the file writes one, else the defaults.
pub(super) fn services(file: Option<FileServices>) -> Vec<ServiceSettings> {
    let mut blocks = file.map(|s| s.0).unwrap_or_default();
    SERVICES
        .iter()
        .map(|def| {
            let settings = ServiceSettings::new(def);
            match blocks.iter().position(|b| b.def.name == def.name) {
                Some(at) => service(settings, blocks.swap_remove(at)),
                None => settings,
            }
        })
        .collect()
}

/// `defaults` with what `block` sets.
fn service(defaults: ServiceSettings, block: FileService) -> ServiceSettings {
    ServiceSettings {
        enabled: block.enabled.unwrap_or(defaults.enabled),
        filter: NameFilter::new(patterns(block.include), patterns(block.exclude)),
        domains: block.domains.map_or(defaults.domains, |d| d.0),
        log_groups: block.log_groups.map(|l| l.0).or(defaults.log_groups),
        ..defaults
    }
}

fn patterns(list: Option<Vec<Pattern>>) -> Vec<Regex> {
    list.unwrap_or_default().into_iter().map(|p| p.0).collect()
}

//! Start-up: from a validated configuration to running collectors.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::Semaphore;

use crate::aws::appflow::SdkAppFlow;
use crate::aws::customerprofiles::SdkCustomerProfiles;
use crate::aws::supplychain::SdkSupplyChain;
use crate::aws::transfer::SdkTransfer;
use crate::aws::{sdk_config, Caller, Overrides};
use crate::collectors::appflow::AppFlowCollector;
use crate::collectors::customerprofiles::{domain_filter, CustomerProfilesCollector};
use crate::collectors::supplychain::SupplyChainCollector;
use crate::collectors::transfer::TransferCollector;
use crate::collectors::{Collector, Service};
use crate::config::Config;
use crate::metrics::exporter::ExporterMetrics;
use crate::scheduler::{Hub, Unit};

/// Everything the exporter runs, ready to start.
pub struct Plan {
    pub hub: Arc<Hub>,
    pub units: Vec<Unit>,
    /// (region, labels) of each target, for the landing page.
    pub targets: Vec<(String, Vec<(String, String)>)>,
}

/// Builds one SDK configuration per target and one collector per enabled service.
pub async fn plan(config: &Config, overrides: &Overrides) -> anyhow::Result<Plan> {
    let label_names: BTreeSet<&String> = config
        .targets
        .iter()
        .flat_map(|t| t.labels.keys())
        .collect();
    let exporter = ExporterMetrics::new(label_names.into_iter().cloned().collect())
        .context("cannot register the exporter's own metrics")?;
    let collection = &config.collection;
    let mut units = Vec::new();
    let mut targets = Vec::new();
    for (index, target) in config.targets.iter().enumerate() {
        let sdk = sdk_config(target, collection, overrides).await;
        let Some(region) = target
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()))
        else {
            bail!("targets[{index}]: no AWS region: set `region` in the configuration file, or AWS_REGION");
        };
        let mut base_labels = vec![("region".to_string(), region.clone())];
        base_labels.extend(target.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        targets.push((region.clone(), base_labels[1..].to_vec()));
        let concurrency = Arc::new(Semaphore::new(collection.max_concurrency));
        let enabled = |name: &str| target.service(name).filter(|s| s.enabled);
        // One unit per enabled service: its metrics, its Caller, and the collector around it.
        let unit = |service: Service, collector: &dyn Fn(Caller) -> Box<dyn Collector>| {
            let metrics = exporter.for_service(service, &region, &target.labels);
            let caller = Caller::new(collection, concurrency.clone(), metrics.clone());
            Unit::new(index, region.clone(), collector(caller), metrics)
        };
        if let Some(appflow) = enabled("appflow") {
            units.push(unit(Service::AppFlow, &|caller| {
                Box::new(AppFlowCollector::new(
                    SdkAppFlow::new(&sdk, caller),
                    appflow.filter.clone(),
                    collection.lookback,
                    collection.max_concurrency,
                    base_labels.clone(),
                ))
            }));
        }
        if let Some(transfer) = enabled("transfer") {
            units.push(unit(Service::Transfer, &|caller| {
                Box::new(TransferCollector::new(
                    SdkTransfer::new(&sdk, caller),
                    transfer.filter.clone(),
                    collection.max_concurrency,
                    base_labels.clone(),
                ))
            }));
        }
        if let Some(supplychain) = enabled("supplychain") {
            units.push(unit(Service::SupplyChain, &|caller| {
                Box::new(SupplyChainCollector::new(
                    SdkSupplyChain::new(&sdk, caller),
                    supplychain.filter.clone(),
                    collection.lookback,
                    collection.max_concurrency,
                    base_labels.clone(),
                ))
            }));
        }
        if let Some(customerprofiles) = enabled("customerprofiles") {
            let filter = domain_filter(&customerprofiles.domains)
                .with_context(|| {
                    format!(
                        "targets[{index}].services.customerprofiles.domains: invalid domain name"
                    )
                })?
                .with_shard(customerprofiles.filter.shard());
            units.push(unit(Service::CustomerProfiles, &|caller| {
                Box::new(CustomerProfilesCollector::new(
                    SdkCustomerProfiles::new(&sdk, caller),
                    filter.clone(),
                    collection.lookback,
                    collection.max_concurrency,
                    base_labels.clone(),
                ))
            }));
        }
    }
    let hub = Arc::new(Hub::new(exporter, units.len()));
    Ok(Plan {
        hub,
        units,
        targets,
    })
}

//! `--shard`: how replicas split the names of every service.

use super::*;

#[test]
fn shards_split_names_with_no_overlap_and_no_gap() {
    let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
    let mut per_shard = [0; 3];
    for n in 0..3000 {
        let name = format!("flow-{n}");
        let owners: Vec<usize> = (0..3).filter(|&i| shards[i].owns(&name)).collect();
        assert_eq!(owners.len(), 1, "{name}");
        per_shard[owners[0]] += 1;
    }
    assert!(per_shard.iter().all(|&n| n > 800), "{per_shard:?}");
    // Stable across builds: pinned.
    assert!(
        "0/2".parse::<Shard>().unwrap().owns("orders")
            != "1/2".parse::<Shard>().unwrap().owns("orders")
    );
}

#[test]
fn shard_syntax() {
    assert_eq!("1/4".parse::<Shard>().unwrap().to_string(), "1/4");
    for bad in ["", "1", "4/4", "0/0", "-1/2", "a/b", "1/2/3"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

#[test]
fn the_shard_narrows_the_name_filter() {
    let mut config = Config::default();
    config.apply_shard("1/2".parse().unwrap());
    let filter = &service(&config, "appflow").filter;
    let owned = (0..100)
        .filter(|n| filter.matches(&format!("f{n}")))
        .count();
    assert!(owned > 20 && owned < 80, "{owned}");
}

#[test]
fn the_shard_goes_to_every_service_of_every_target() {
    let mut config = ok("targets:\n  - region: us-east-1\n  - region: us-east-2\n");
    let shard: Shard = "0/3".parse().unwrap();
    config.apply_shard(shard);
    for t in &config.targets {
        assert_eq!(t.services.len(), SERVICES.len());
        for s in &t.services {
            assert_eq!(s.filter.shard(), Some(shard), "{}", s.name);
        }
    }
}

use super::*;
use crate::config::Config;
use crate::shard::Shard;

fn settings(yaml: &str) -> Settings {
    let text = format!("discovery:\n  organizations:\n{yaml}");
    Config::parse(&text).unwrap().discovery.unwrap()
}

fn listing(accounts: usize) -> Listing {
    Listing {
        identity: Some(Identity {
            account: "000000000000".into(),
            partition: "aws".into(),
        }),
        accounts: (0..accounts)
            .map(|i| Listed {
                id: format!("{:012}", 100_000_000_000_u64 + i as u64),
                name: format!("account-{i}"),
                active: true,
            })
            .collect(),
        enabled: BTreeMap::new(),
    }
}

#[test]
fn active_selected_accounts_times_regions() {
    let s = settings(
        "    role_name: r\n    regions: [us-east-1, eu-west-1]\n    include: ['^account-1', '100000000003']\n    exclude: ['account-12']\n",
    );
    let mut l = listing(13);
    l.accounts[1].active = false;
    let found = targets_of(&l, &s);
    let accounts: BTreeSet<&str> = found.iter().map(|f| f.account_name.as_str()).collect();
    // account-1 is not active; account-10, 11 match the include; 12 is excluded; 3 by id.
    assert_eq!(
        accounts.into_iter().collect::<Vec<_>>(),
        ["account-10", "account-11", "account-3"]
    );
    assert_eq!(found.len(), 6);
}

#[test]
fn enabled_regions_come_from_the_listing() {
    let s = settings("    role_name: r\n    regions: enabled\n");
    let mut l = listing(2);
    l.enabled.insert(
        l.accounts[0].id.clone(),
        vec!["eu-south-1".into(), "us-east-1".into()],
    );
    let found = targets_of(&l, &s);
    let regions: Vec<&str> = found.iter().map(|f| f.region.as_str()).collect();
    assert_eq!(
        regions,
        ["eu-south-1", "us-east-1"],
        "the unlisted account has none"
    );
}

fn sharded(l: &Listing, index: u64, total: u64) -> Vec<Found> {
    let mut s = settings(
        "    role_name: r\n    regions: [us-east-1, us-west-2, eu-west-1, ap-southeast-1]\n",
    );
    s.shard = Some(format!("{index}/{total}").parse::<Shard>().unwrap());
    targets_of(l, &s)
}

#[test]
fn three_shards_cover_every_target_exactly_once() {
    let l = listing(1000);
    let all = targets_of(
        &l,
        &settings(
            "    role_name: r\n    regions: [us-east-1, us-west-2, eu-west-1, ap-southeast-1]\n",
        ),
    );
    assert_eq!(all.len(), 4000);
    let mut seen = BTreeMap::new();
    for index in 0..3 {
        let part = sharded(&l, index, 3);
        assert!(part.len() > 1000, "shard {index}: {}", part.len());
        for t in part {
            *seen.entry(t).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 4000);
    assert!(seen.values().all(|n| *n == 1));
}

#[test]
fn growing_from_3_to_4_shards_moves_about_a_quarter() {
    let l = listing(1000);
    let owner = |total: u64| -> BTreeMap<Found, u64> {
        (0..total)
            .flat_map(|i| sharded(&l, i, total).into_iter().map(move |t| (t, i)))
            .collect()
    };
    let (three, four) = (owner(3), owner(4));
    let moved = three.iter().filter(|(t, i)| four[*t] != **i).count();
    // Ideally 1/4 (1,000 of 4,000); a jump hash moves only to the new shard.
    assert!(moved <= 1150, "{moved} of 4000 moved");
    assert!(moved >= 850, "{moved} of 4000 moved");
    assert!(three.iter().all(|(t, i)| four[t] == *i || four[t] == 3));
}

#[test]
fn target_ids_carry_account_region_and_labels() {
    let labels = [("org".to_string(), "main".to_string())].into();
    assert_eq!(
        &*target_id("123456789012", "eu-west-1", &labels),
        "account_id=\"123456789012\",region=\"eu-west-1\",org=\"main\""
    );
}

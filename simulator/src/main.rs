//! `aws-flow-simulator [--listen 127.0.0.1:4566] [--step 5s] [--seed 42]`: serves the evolving
//! demo scenario until interrupted. Faults can be injected through the `/_sim/` control API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use aws_flow_simulator::faults::parse_duration;
use aws_flow_simulator::scenario::{spawn_stepping, Scenario};
use aws_flow_simulator::{epoch_now, Simulator};

const USAGE: &str = "usage: aws-flow-simulator [--listen ADDR] [--step DURATION] [--seed N]

  --listen ADDR      address to serve on (default 127.0.0.1:4566)
  --step DURATION    how often the scenario advances, e.g. 500ms, 5s (default 5s)
  --seed N           scenario seed (default 42)";

struct Args {
    listen: SocketAddr,
    step: Duration,
    seed: u64,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
        step: Duration::from_secs(5),
        seed: 42,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if !matches!(flag.as_str(), "--listen" | "--step" | "--seed") {
            return Err(format!("unknown argument {flag}"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => parsed.listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--step" => parsed.step = parse_duration(&value).map_err(|e| format!("--step: {e}"))?,
            _ => parsed.seed = value.parse().map_err(|e| format!("--seed: {e}"))?,
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start(args.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut scenario = Scenario::new(args.seed);
    sim.with(|world| {
        scenario.populate(world, epoch_now());
        aws_flow_simulator::organizations::populate_demo(world, epoch_now());
    });
    let _stepping = spawn_stepping(&sim, scenario, args.step);
    println!("aws-flow-simulator listening on {}", sim.url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: waiting for Ctrl-C: {e}");
    }
    sim.shutdown();
    ExitCode::SUCCESS
}

//! `automations-redrive --from DLQ_URL --to QUEUE_URL [--max N]`: move messages from a
//! dead-letter queue back to the queue they dead-lettered from, with the AWS credentials and
//! region of the environment (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`). The runbook is
//! docs/dead-letters.md; on AWS, SQS's own redrive (`aws sqs start-message-move-task`) does the
//! same for standard queues.

use automations_sqs::Sqs;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Move messages from a dead-letter queue back to its source queue")]
struct Args {
    /// The dead-letter queue's URL.
    #[arg(long)]
    from: String,
    /// The queue to move them to (the one that dead-lettered them).
    #[arg(long)]
    to: String,
    /// Move at most this many.
    #[arg(long, default_value_t = 1000)]
    max: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = Sqs::new(aws_sdk_sqs::Client::new(&config));
    let moved = sqs.redrive(&args.from, &args.to, args.max).await?;
    println!("moved {} messages from {} to {}", moved.moved, args.from, args.to);
    Ok(())
}

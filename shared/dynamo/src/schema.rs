//! Creating the table: what `template.yaml` declares, for tests, benchmarks and local setups.
//! (A test reads `template.yaml` and checks that both declare the same keys and indexes.)

use crate::api::DynamoError;
use crate::keys::{
    ACTIVITY, ACTIVITY_EXPIRES, AUTOMATION_ID, BY_AUTOMATION, CREATED_ID, DUE, DUE_AT, DUE_SHARD, EXPIRES_AT, ID, PK,
    SEEN, SK, STALL_SHARD, STALLED, TRACKED, TRACKING, VERSION,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

/// One global secondary index: name, partition key, sort key (and whether it is a number), the
/// non-key attributes it projects (`None`: keys only).
pub struct IndexSpec {
    /// The index's name.
    pub name: &'static str,
    /// The partition key attribute (always a string).
    pub partition: &'static str,
    /// The sort key attribute.
    pub sort: &'static str,
    /// The sort key is a number (`N`) rather than a string (`S`).
    pub sort_is_number: bool,
    /// The non-key attributes projected into the index; `None`: keys only.
    pub projects: Option<&'static [&'static str]>,
}

/// The table's indexes (see [`crate::keys`] for what each lists).
pub const INDEXES: [IndexSpec; 4] = [
    IndexSpec {
        name: BY_AUTOMATION,
        partition: AUTOMATION_ID,
        sort: CREATED_ID,
        sort_is_number: false,
        projects: None,
    },
    IndexSpec {
        name: DUE,
        partition: DUE_SHARD,
        sort: DUE_AT,
        sort_is_number: true,
        projects: Some(&[VERSION, EXPIRES_AT]),
    },
    IndexSpec {
        name: STALLED,
        partition: STALL_SHARD,
        sort: SEEN,
        sort_is_number: true,
        projects: Some(&[ACTIVITY, ACTIVITY_EXPIRES]),
    },
    IndexSpec { name: TRACKING, partition: TRACKED, sort: ID, sort_is_number: false, projects: None },
];

fn build_error(e: impl std::fmt::Display) -> DynamoError {
    DynamoError::Service { code: "InvalidRequest".into(), message: e.to_string() }
}

fn sdk_error(op: &str, e: impl std::error::Error) -> DynamoError {
    DynamoError::Service {
        code: "SetupFailed".into(),
        message: format!("{op}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    }
}

fn attr(name: &str, number: bool) -> Result<AttributeDefinition, DynamoError> {
    let kind = if number { ScalarAttributeType::N } else { ScalarAttributeType::S };
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().map_err(build_error)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, DynamoError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(build_error)
}

/// Create the table (on-demand billing, `pk`/`sk` strings, the indexes) and turn on TTL on
/// `expires_at`, as `template.yaml` does.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), DynamoError> {
    let mut create = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK, false)?)
        .attribute_definitions(attr(SK, false)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for index in &INDEXES {
        let projection = match index.projects {
            None => Projection::builder().projection_type(ProjectionType::KeysOnly).build(),
            Some(attrs) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(attrs.iter().map(|a| a.to_string()).collect()))
                .build(),
        };
        create = create
            .attribute_definitions(attr(index.partition, false)?)
            .attribute_definitions(attr(index.sort, index.sort_is_number)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition, KeyType::Hash)?)
                    .key_schema(key(index.sort, KeyType::Range)?)
                    .projection(projection)
                    .build()
                    .map_err(build_error)?,
            );
    }
    create.send().await.map_err(|e| sdk_error("CreateTable", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().enabled(true).attribute_name(EXPIRES_AT).build().map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    Ok(())
}

//! The DynamoDB calls the store makes, as a narrow trait: the SDK implements it
//! ([`SdkDynamo`]), and wrappers (feature `testing`) count it (`Metered`) or break it on purpose
//! (`Faulty`). Requests are plain structs rather than SDK builders so a wrapper can read
//! and replay them; errors are classified once, here, into what the store must tell apart.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete as SdkDelete, DeleteRequest, KeysAndAttributes, Put as SdkPut, PutRequest,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as SdkUpdate, WriteRequest,
};
use std::collections::HashMap;
use std::future::Future;

/// One DynamoDB item (or key): attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// Expression attribute names (`#n`) and values (`:v`) of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// `ExpressionAttributeNames`: placeholder (`#n`) to attribute name.
    pub names: HashMap<String, String>,
    /// `ExpressionAttributeValues`: placeholder (`:v`) to value.
    pub values: Item,
}

impl Params {
    /// Add `#placeholder` for an attribute name.
    pub fn name(mut self, placeholder: &str, attribute: &str) -> Params {
        self.names.insert(placeholder.to_string(), attribute.to_string());
        self
    }

    /// Add `:placeholder` for a value.
    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Params {
        self.values.insert(placeholder.to_string(), value);
        self
    }

    /// Drop the placeholders none of `expressions` uses (DynamoDB refuses unused ones), for
    /// requests assembled from optional parts.
    pub fn retain_used(&mut self, expressions: &[&str]) {
        let used = |placeholder: &str| {
            expressions.iter().any(|e| {
                e.match_indices(placeholder).any(|(i, _)| {
                    !e[i + placeholder.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
            })
        };
        self.names.retain(|k, _| used(k));
        self.values.retain(|k, _| used(k));
    }

    fn names_opt(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values_opt(&self) -> Option<Item> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// PutItem: write a whole item, optionally only if `condition` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Put {
    /// The whole item, keys included; it replaces any item with the same key.
    pub item: Item,
    /// The `ConditionExpression`; `None` writes unconditionally.
    pub condition: Option<String>,
    /// The placeholders `condition` uses.
    pub params: Params,
}

/// UpdateItem: apply `update` to the item at `key`, optionally only if `condition` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The item's primary key (`pk`, `sk`).
    pub key: Item,
    /// The `UpdateExpression` (`SET ...`, `REMOVE ...`).
    pub update: String,
    /// The `ConditionExpression`; `None` updates unconditionally (creating the item if absent).
    pub condition: Option<String>,
    /// The placeholders `update` and `condition` use.
    pub params: Params,
    /// Answer with the whole item as updated (`ReturnValues: ALL_NEW`).
    pub return_new: bool,
}

/// DeleteItem, optionally only if `condition` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    /// The item's primary key (`pk`, `sk`).
    pub key: Item,
    /// The `ConditionExpression`; `None` deletes unconditionally.
    pub condition: Option<String>,
    /// The placeholders `condition` uses.
    pub params: Params,
}

/// A Query on the table or one of its indexes; one page of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The global secondary index to query; `None` queries the table.
    pub index: Option<String>,
    /// The `KeyConditionExpression`.
    pub key_condition: String,
    /// The `FilterExpression`, applied after the page is read (filtered items still cost reads).
    pub filter: Option<String>,
    /// The placeholders `key_condition` and `filter` use.
    pub params: Params,
    /// Resume after this key (the previous page's `last_key`).
    pub start: Option<Item>,
    /// At most this many items evaluated for the page (before `filter`); `None`: DynamoDB's 1 MB page.
    pub limit: Option<i32>,
    /// [`Read::Consistent`] is not possible on a global secondary index.
    pub read: Read,
    /// Descending sort-key order when `false`.
    pub forward: bool,
}

/// One page of a query.
#[derive(Debug, Clone, Default)]
pub struct QueryPage {
    /// The page's items (those that passed the filter).
    pub items: Vec<Item>,
    /// Where the next page starts; `None` on the last page.
    pub last_key: Option<Item>,
}

/// What BatchGetItem answered: the items found, and the keys DynamoDB did not get to.
#[derive(Debug, Clone, Default)]
pub struct BatchGot {
    /// The items found, in no particular order; keys with no item are simply absent.
    pub items: Vec<Item>,
    /// The keys DynamoDB left unprocessed (`UnprocessedKeys`), to ask for again.
    pub unprocessed: Vec<Item>,
}

/// One write of a BatchWriteItem (unconditional by DynamoDB's rules).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Write this whole item (keys included).
    Put(Item),
    /// Delete the item with this primary key.
    Delete(Item),
}

/// One action of a TransactWriteItems.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactItem {
    /// A PutItem in the transaction.
    Put(Put),
    /// An UpdateItem in the transaction.
    Update(Update),
    /// A DeleteItem in the transaction.
    Delete(Delete),
    /// Only a condition on another item.
    Check {
        /// The checked item's primary key.
        key: Item,
        /// The `ConditionExpression` that must hold for the transaction to go through.
        condition: String,
        /// The placeholders `condition` uses.
        params: Params,
    },
}

/// What a DynamoDB call can end in, as far as the store is concerned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DynamoError {
    /// Throughput exceeded or throttled: retry later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// No answer in time. A write may or may not have been applied.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The request did not reach DynamoDB, or its answer did not come back whole.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The condition did not hold; the item as it was, when DynamoDB returned it.
    #[error("conditional check failed")]
    ConditionFailed(Option<Box<Item>>),
    /// A transaction was cancelled: per action, its reason code (`None` when that action was fine).
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Vec<Option<String>>),
    /// Anything else DynamoDB refused (validation, missing table, access denied).
    #[error("{code}: {message}")]
    Service {
        /// DynamoDB's error code (such as `ValidationException`; `Unknown` when it gave none), or this
        /// crate's (`InvalidRequest` for a request the SDK could not build, `SetupFailed` in table setup).
        code: String,
        /// What went wrong; DynamoDB's own messages are prefixed with the operation (`PutItem: ...`).
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_placeholders_are_dropped_and_prefixes_are_not_uses() {
        let mut p = Params::default().name("#v", "v").name("#vv", "vv").value(":v", AttributeValue::N("1".into()));
        p = p.value(":v2", AttributeValue::N("2".into()));
        p.retain_used(&["SET #vv = :v2"]);
        assert_eq!(p.names.keys().collect::<Vec<_>>(), vec!["#vv"]);
        assert_eq!(p.values.keys().collect::<Vec<_>>(), vec![":v2"]);
    }
}

impl DynamoError {
    /// Worth trying again after a pause.
    pub fn is_retryable(&self) -> bool {
        match self {
            DynamoError::Throttled(_) | DynamoError::Timeout(_) | DynamoError::Unreachable(_) => true,
            DynamoError::Service { code, .. } => {
                matches!(code.as_str(), "InternalServerError" | "ServiceUnavailable" | "InternalFailure")
            }
            // A transaction that lost to a concurrent one, or was throttled, may go through later.
            DynamoError::Cancelled(reasons) => {
                reasons.iter().flatten().any(|c| matches!(c.as_str(), "TransactionConflict" | "ThrottlingError"))
                    && !reasons.iter().flatten().any(|c| c == "ConditionalCheckFailed")
            }
            DynamoError::ConditionFailed(_) => false,
        }
    }
}

/// How a read sees recent writes (DynamoDB's `ConsistentRead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Read {
    /// Sees every write acknowledged before it; costs a whole read unit per 4 KB.
    Consistent,
    /// May be a moment behind; half the cost, and the only kind a global secondary index serves.
    #[default]
    Eventual,
}

impl Read {
    /// The `ConsistentRead` flag of the request.
    pub fn is_consistent(self) -> bool {
        self == Read::Consistent
    }
}

/// The DynamoDB operations the store uses. Every method names its table, so one client serves
/// any table.
pub trait DynamoApi: Send + Sync + 'static {
    /// GetItem: the item at `key`, `None` if there is none.
    fn get_item(
        &self,
        table: &str,
        key: Item,
        read: Read,
    ) -> impl Future<Output = Result<Option<Item>, DynamoError>> + Send;

    /// Conditional writes return the old item on failure (`ReturnValuesOnConditionCheckFailure`).
    fn put_item(&self, table: &str, put: Put) -> impl Future<Output = Result<(), DynamoError>> + Send;

    /// The updated item when `update.return_new`, else `None`.
    fn update_item(
        &self,
        table: &str,
        update: Update,
    ) -> impl Future<Output = Result<Option<Item>, DynamoError>> + Send;

    /// DeleteItem; like [`DynamoApi::put_item`], a failed condition returns the old item.
    fn delete_item(&self, table: &str, delete: Delete) -> impl Future<Output = Result<(), DynamoError>> + Send;

    /// One page of a Query.
    fn query(&self, table: &str, query: Query) -> impl Future<Output = Result<QueryPage, DynamoError>> + Send;

    /// At most 100 distinct keys.
    fn batch_get_item(
        &self,
        table: &str,
        keys: Vec<Item>,
        read: Read,
    ) -> impl Future<Output = Result<BatchGot, DynamoError>> + Send;

    /// At most 25 writes, to distinct keys. Returns the writes DynamoDB did not process.
    fn batch_write_item(
        &self,
        table: &str,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<Vec<Write>, DynamoError>> + Send;

    /// At most 100 actions, all or nothing.
    fn transact_write_items(
        &self,
        table: &str,
        items: Vec<TransactItem>,
    ) -> impl Future<Output = Result<(), DynamoError>> + Send;
}

/// [`DynamoApi`] over the AWS SDK client.
#[derive(Debug, Clone)]
pub struct SdkDynamo {
    client: aws_sdk_dynamodb::Client,
}

impl SdkDynamo {
    /// Calls through this client (built once per process: it holds the connection pool).
    pub fn new(client: aws_sdk_dynamodb::Client) -> SdkDynamo {
        SdkDynamo { client }
    }

    /// The SDK client calls go through.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

fn invalid(e: impl std::fmt::Display) -> DynamoError {
    DynamoError::Service { code: "InvalidRequest".into(), message: e.to_string() }
}

/// Sort an SDK error into [`DynamoError`]. `old_item` pulls the item out of a conditional
/// check failure, `reasons` the cancellation reasons out of a cancelled transaction.
fn classify<E>(
    op: &str,
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    old_item: impl FnOnce(&E) -> Option<Item>,
    reasons: impl FnOnce(&E) -> Option<Vec<Option<String>>>,
) -> DynamoError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = || format!("{op}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e));
    match &e {
        SdkError::TimeoutError(_) => DynamoError::Timeout(context()),
        SdkError::DispatchFailure(d) if d.is_timeout() => DynamoError::Timeout(context()),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => DynamoError::Unreachable(context()),
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("Unknown").to_string();
            match code.as_str() {
                "ConditionalCheckFailedException" => DynamoError::ConditionFailed(old_item(err).map(Box::new)),
                "TransactionCanceledException" => match reasons(err) {
                    Some(r) => DynamoError::Cancelled(r),
                    None => DynamoError::Cancelled(Vec::new()),
                },
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TransactionInProgressException" => DynamoError::Throttled(context()),
                _ => DynamoError::Service { code, message: format!("{op}: {}", err.message().unwrap_or("")) },
            }
        }
        _ => DynamoError::Unreachable(context()),
    }
}

fn no_item<E>(_: &E) -> Option<Item> {
    None
}

fn no_reasons<E>(_: &E) -> Option<Vec<Option<String>>> {
    None
}

impl DynamoApi for SdkDynamo {
    async fn get_item(&self, table: &str, key: Item, read: Read) -> Result<Option<Item>, DynamoError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(read.is_consistent())
            .send()
            .await
            .map_err(|e| classify("GetItem", e, no_item, no_reasons))?;
        Ok(out.item)
    }

    async fn put_item(&self, table: &str, put: Put) -> Result<(), DynamoError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition)
            .set_expression_attribute_names(put.params.names_opt())
            .set_expression_attribute_values(put.params.values_opt())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(|e| {
                let old = |e: &PutItemError| match e {
                    PutItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                };
                classify("PutItem", e, old, no_reasons)
            })?;
        Ok(())
    }

    async fn update_item(&self, table: &str, update: Update) -> Result<Option<Item>, DynamoError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::ReturnValue;
        let out = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(update.key))
            .update_expression(update.update)
            .set_condition_expression(update.condition)
            .set_expression_attribute_names(update.params.names_opt())
            .set_expression_attribute_values(update.params.values_opt())
            .return_values(if update.return_new { ReturnValue::AllNew } else { ReturnValue::None })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(|e| {
                let old = |e: &UpdateItemError| match e {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                };
                classify("UpdateItem", e, old, no_reasons)
            })?;
        Ok(out.attributes)
    }

    async fn delete_item(&self, table: &str, delete: Delete) -> Result<(), DynamoError> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        self.client
            .delete_item()
            .table_name(table)
            .set_key(Some(delete.key))
            .set_condition_expression(delete.condition)
            .set_expression_attribute_names(delete.params.names_opt())
            .set_expression_attribute_values(delete.params.values_opt())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(|e| {
                let old = |e: &DeleteItemError| match e {
                    DeleteItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                };
                classify("DeleteItem", e, old, no_reasons)
            })?;
        Ok(())
    }

    async fn query(&self, table: &str, query: Query) -> Result<QueryPage, DynamoError> {
        let out = self
            .client
            .query()
            .table_name(table)
            .set_index_name(query.index)
            .key_condition_expression(query.key_condition)
            .set_filter_expression(query.filter)
            .set_expression_attribute_names(query.params.names_opt())
            .set_expression_attribute_values(query.params.values_opt())
            .set_exclusive_start_key(query.start)
            .set_limit(query.limit)
            .consistent_read(query.read.is_consistent())
            .scan_index_forward(query.forward)
            .send()
            .await
            .map_err(|e| classify("Query", e, no_item, no_reasons))?;
        Ok(QueryPage { items: out.items.unwrap_or_default(), last_key: out.last_evaluated_key })
    }

    async fn batch_get_item(&self, table: &str, keys: Vec<Item>, read: Read) -> Result<BatchGot, DynamoError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(read.is_consistent())
            .build()
            .map_err(invalid)?;
        let mut out = self
            .client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(|e| classify("BatchGetItem", e, no_item, no_reasons))?;
        let items = out.responses.as_mut().and_then(|r| r.remove(table)).unwrap_or_default();
        let unprocessed =
            out.unprocessed_keys.as_mut().and_then(|u| u.remove(table)).map(|k| k.keys).unwrap_or_default();
        Ok(BatchGot { items, unprocessed })
    }

    async fn batch_write_item(&self, table: &str, writes: Vec<Write>) -> Result<Vec<Write>, DynamoError> {
        let requests = writes
            .into_iter()
            .map(|w| match w {
                Write::Put(item) => PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build()),
                Write::Delete(key) => DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let mut out = self
            .client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| classify("BatchWriteItem", e, no_item, no_reasons))?;
        let unprocessed = out.unprocessed_items.as_mut().and_then(|u| u.remove(table)).unwrap_or_default();
        Ok(unprocessed
            .into_iter()
            .filter_map(|w| match (w.put_request, w.delete_request) {
                (Some(p), _) => Some(Write::Put(p.item)),
                (None, Some(d)) => Some(Write::Delete(d.key)),
                (None, None) => None,
            })
            .collect())
    }

    async fn transact_write_items(&self, table: &str, items: Vec<TransactItem>) -> Result<(), DynamoError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let fail = ReturnValuesOnConditionCheckFailure::AllOld;
        let actions = items
            .into_iter()
            .map(|t| {
                let b = TransactWriteItem::builder();
                Ok(match t {
                    TransactItem::Put(p) => b.put(
                        SdkPut::builder()
                            .table_name(table)
                            .set_item(Some(p.item))
                            .set_condition_expression(p.condition)
                            .set_expression_attribute_names(p.params.names_opt())
                            .set_expression_attribute_values(p.params.values_opt())
                            .return_values_on_condition_check_failure(fail.clone())
                            .build()?,
                    ),
                    TransactItem::Update(u) => b.update(
                        SdkUpdate::builder()
                            .table_name(table)
                            .set_key(Some(u.key))
                            .update_expression(u.update)
                            .set_condition_expression(u.condition)
                            .set_expression_attribute_names(u.params.names_opt())
                            .set_expression_attribute_values(u.params.values_opt())
                            .return_values_on_condition_check_failure(fail.clone())
                            .build()?,
                    ),
                    TransactItem::Delete(d) => b.delete(
                        SdkDelete::builder()
                            .table_name(table)
                            .set_key(Some(d.key))
                            .set_condition_expression(d.condition)
                            .set_expression_attribute_names(d.params.names_opt())
                            .set_expression_attribute_values(d.params.values_opt())
                            .return_values_on_condition_check_failure(fail.clone())
                            .build()?,
                    ),
                    TransactItem::Check { key, condition, params } => b.condition_check(
                        ConditionCheck::builder()
                            .table_name(table)
                            .set_key(Some(key))
                            .condition_expression(condition)
                            .set_expression_attribute_names(params.names_opt())
                            .set_expression_attribute_values(params.values_opt())
                            .return_values_on_condition_check_failure(fail.clone())
                            .build()?,
                    ),
                }
                .build())
            })
            .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()
            .map_err(invalid)?;
        self.client.transact_write_items().set_transact_items(Some(actions)).send().await.map_err(|e| {
            let reasons = |e: &TransactWriteItemsError| match e {
                TransactWriteItemsError::TransactionCanceledException(c) => Some(
                    c.cancellation_reasons
                        .iter()
                        .flatten()
                        .map(|r| r.code.clone().filter(|code| code != "None"))
                        .collect(),
                ),
                _ => None,
            };
            classify("TransactWriteItems", e, no_item, reasons)
        })?;
        Ok(())
    }
}

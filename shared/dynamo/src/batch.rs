//! BatchGetItem and BatchWriteItem at DynamoDB's limits, with what DynamoDB leaves unprocessed
//! retried with backoff until done or out of attempts.

use crate::api::{DynamoApi, DynamoError, Item, Read, Write};
use crate::retry::retrying;
use crate::{DynamoStore, keys};
use std::collections::HashSet;

/// Keys per BatchGetItem.
pub const MAX_BATCH_GET: usize = 100;
/// Writes per BatchWriteItem.
pub const MAX_BATCH_WRITE: usize = 25;

impl<D: DynamoApi> DynamoStore<D> {
    /// Every item of `keys` that exists (in no particular order). Duplicate keys are asked once.
    pub async fn batch_get(&self, keys: Vec<Item>, read: Read) -> Result<Vec<Item>, DynamoError> {
        let mut seen = HashSet::new();
        let keys: Vec<Item> = keys.into_iter().filter(|k| seen.insert(key_string(k))).collect();
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH_GET) {
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round > 0 {
                    if round >= self.backoff.attempts {
                        return Err(DynamoError::Throttled(format!(
                            "BatchGetItem: {} keys still unprocessed after {round} attempts",
                            pending.len()
                        )));
                    }
                    tokio::time::sleep(self.backoff.delay(round - 1)).await;
                }
                let got = retrying(&self.backoff, "BatchGetItem", || {
                    self.api.batch_get_item(&self.table, pending.clone(), read)
                })
                .await?;
                found.extend(got.items);
                pending = got.unprocessed;
                round += 1;
            }
        }
        Ok(found)
    }

    /// Apply every write, 25 to a request, retrying unprocessed ones. Later writes to a key
    /// replace earlier ones in the same call (DynamoDB refuses two writes to one key per request).
    pub async fn batch_write(&self, writes: Vec<Write>) -> Result<(), DynamoError> {
        let mut last = std::collections::HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            last.insert(write_key(w), i);
        }
        let writes: Vec<Write> = writes
            .into_iter()
            .enumerate()
            .filter(|(i, w)| last.get(&write_key(w)) == Some(i))
            .map(|(_, w)| w)
            .collect();
        for chunk in writes.chunks(MAX_BATCH_WRITE) {
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round > 0 {
                    if round >= self.backoff.attempts {
                        return Err(DynamoError::Throttled(format!(
                            "BatchWriteItem: {} writes still unprocessed after {round} attempts",
                            pending.len()
                        )));
                    }
                    tokio::time::sleep(self.backoff.delay(round - 1)).await;
                }
                pending = retrying(&self.backoff, "BatchWriteItem", || {
                    self.api.batch_write_item(&self.table, pending.clone())
                })
                .await?;
                round += 1;
            }
        }
        Ok(())
    }
}

/// The primary key of an item or key, as one string (for de-duplication).
pub(crate) fn key_string(item: &Item) -> String {
    format!("{}\u{0}{}", keys::get_s(item, keys::PK).unwrap_or(""), keys::get_s(item, keys::SK).unwrap_or(""))
}

fn write_key(w: &Write) -> String {
    match w {
        Write::Put(item) | Write::Delete(item) => key_string(item),
    }
}

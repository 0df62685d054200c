//! Counting what the store asks of DynamoDB: requests per operation, and item bytes read and
//! written, with the capacity units they cost. The cost benchmark reads these.

use crate::api::{
    BatchGot, Delete, DynamoApi, DynamoError, Item, Put, Query, QueryPage, Read, TransactItem, Update, Write,
};
use aws_sdk_dynamodb::types::AttributeValue;
use std::fmt;
use std::sync::Mutex;

/// What a [`Metered`] store asked of DynamoDB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// GetItem requests (every call, failed or not; likewise for each request count below).
    pub get_item: u64,
    /// PutItem requests.
    pub put_item: u64,
    /// UpdateItem requests.
    pub update_item: u64,
    /// DeleteItem requests.
    pub delete_item: u64,
    /// Query requests (one per page).
    pub query: u64,
    /// BatchGetItem requests.
    pub batch_get_item: u64,
    /// BatchWriteItem requests.
    pub batch_write_item: u64,
    /// TransactWriteItems requests.
    pub transact_write_items: u64,
    /// Items returned by reads (including the old item of a failed condition).
    pub items_read: u64,
    /// The [`item_size`] of the items read, summed.
    pub bytes_read: u64,
    /// Items sent in writes (each action of a transaction or batch counts).
    pub items_written: u64,
    /// Bytes sent in writes: the [`item_size`] of each item put, key deleted or checked, update's key and values.
    pub bytes_written: u64,
    /// Read capacity units: 4 KiB per item per strongly consistent read, half for eventual ones.
    pub read_units: f64,
    /// Write capacity units: 1 KiB per item written, twice that in transactions.
    pub write_units: f64,
}

impl Metrics {
    /// Requests that read (GetItem, Query, BatchGetItem).
    pub fn read_requests(&self) -> u64 {
        self.get_item + self.query + self.batch_get_item
    }

    /// Requests that write.
    pub fn write_requests(&self) -> u64 {
        self.put_item + self.update_item + self.delete_item + self.batch_write_item + self.transact_write_items
    }

    /// Requests of every kind: reads plus writes.
    pub fn requests(&self) -> u64 {
        self.read_requests() + self.write_requests()
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Metrics) -> Metrics {
        Metrics {
            get_item: self.get_item - earlier.get_item,
            put_item: self.put_item - earlier.put_item,
            update_item: self.update_item - earlier.update_item,
            delete_item: self.delete_item - earlier.delete_item,
            query: self.query - earlier.query,
            batch_get_item: self.batch_get_item - earlier.batch_get_item,
            batch_write_item: self.batch_write_item - earlier.batch_write_item,
            transact_write_items: self.transact_write_items - earlier.transact_write_items,
            items_read: self.items_read - earlier.items_read,
            bytes_read: self.bytes_read - earlier.bytes_read,
            items_written: self.items_written - earlier.items_written,
            bytes_written: self.bytes_written - earlier.bytes_written,
            read_units: self.read_units - earlier.read_units,
            write_units: self.write_units - earlier.write_units,
        }
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests ({} reads: {} BatchGetItem, {} GetItem, {} Query; {} writes: {} UpdateItem, {} PutItem, \
             {} DeleteItem, {} BatchWriteItem, {} TransactWriteItems); read {} items / {} bytes ({:.1} RCU); \
             wrote {} items / {} bytes ({:.1} WCU)",
            self.requests(),
            self.read_requests(),
            self.batch_get_item,
            self.get_item,
            self.query,
            self.write_requests(),
            self.update_item,
            self.put_item,
            self.delete_item,
            self.batch_write_item,
            self.transact_write_items,
            self.items_read,
            self.bytes_read,
            self.read_units,
            self.items_written,
            self.bytes_written,
            self.write_units,
        )
    }
}

/// DynamoDB's size of an item: attribute names plus values, by the rules of its capacity
/// accounting (strings and binaries by length, numbers about one byte per two digits,
/// 3 bytes of overhead per list or map, 1 per element).
pub fn item_size(item: &Item) -> u64 {
    item.iter().map(|(k, v)| k.len() as u64 + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> u64 {
    match v {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => (n.trim_start_matches('-').len() as u64).div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| (n.len() as u64).div_ceil(2) + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value_size(x)).sum::<u64>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, x)| 1 + k.len() as u64 + value_size(x)).sum::<u64>(),
        _ => 0,
    }
}

fn units(bytes: u64, per_unit: u64) -> f64 {
    bytes.div_ceil(per_unit).max(1) as f64
}

/// A [`DynamoApi`] that counts every call it passes on.
#[derive(Debug, Default)]
pub struct Metered<D> {
    inner: D,
    metrics: Mutex<Metrics>,
}

impl<D> Metered<D> {
    /// Counts from zero every call passed on to `inner`.
    pub fn new(inner: D) -> Metered<D> {
        Metered { inner, metrics: Mutex::new(Metrics::default()) }
    }

    /// The counts so far.
    pub fn metrics(&self) -> Metrics {
        *self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wrapped API, for calls that should not be counted.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn count(&self, f: impl FnOnce(&mut Metrics)) {
        f(&mut self.metrics.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn read(&self, items: &[&Item], read: Read) {
        self.count(|m| {
            for it in items {
                let size = item_size(it);
                m.items_read += 1;
                m.bytes_read += size;
                m.read_units += units(size, 4096) * read_cost(read);
            }
        });
    }

    fn wrote(&self, sizes: impl IntoIterator<Item = u64>, factor: f64) {
        self.count(|m| {
            for size in sizes {
                m.items_written += 1;
                m.bytes_written += size;
                m.write_units += units(size, 1024) * factor;
            }
        });
    }

    fn failed_condition<T>(&self, r: &Result<T, DynamoError>) {
        if let Err(DynamoError::ConditionFailed(Some(old))) = r {
            self.read(&[old], Read::Consistent);
        }
    }
}

/// The bytes an update writes: its key and every value it sets. (The stored item may hold more;
/// the store's updates set every attribute an item has, so this is the item's size.)
fn update_size(u: &Update) -> u64 {
    item_size(&u.key) + item_size(&u.params.values)
}

impl<D: DynamoApi> DynamoApi for Metered<D> {
    async fn get_item(&self, table: &str, key: Item, read: Read) -> Result<Option<Item>, DynamoError> {
        self.count(|m| m.get_item += 1);
        let r = self.inner.get_item(table, key, read).await;
        if let Ok(Some(item)) = &r {
            self.read(&[item], read);
        }
        r
    }

    async fn put_item(&self, table: &str, put: Put) -> Result<(), DynamoError> {
        self.count(|m| m.put_item += 1);
        self.wrote([item_size(&put.item)], 1.0);
        let r = self.inner.put_item(table, put).await;
        self.failed_condition(&r);
        r
    }

    async fn update_item(&self, table: &str, update: Update) -> Result<Option<Item>, DynamoError> {
        self.count(|m| m.update_item += 1);
        self.wrote([update_size(&update)], 1.0);
        let r = self.inner.update_item(table, update).await;
        self.failed_condition(&r);
        r
    }

    async fn delete_item(&self, table: &str, delete: Delete) -> Result<(), DynamoError> {
        self.count(|m| m.delete_item += 1);
        self.wrote([item_size(&delete.key)], 1.0);
        let r = self.inner.delete_item(table, delete).await;
        self.failed_condition(&r);
        r
    }

    async fn query(&self, table: &str, query: Query) -> Result<QueryPage, DynamoError> {
        self.count(|m| m.query += 1);
        let read = query.read;
        let r = self.inner.query(table, query).await;
        if let Ok(page) = &r {
            // A query is billed on the total size of what it read, not per item.
            let size: u64 = page.items.iter().map(item_size).sum();
            self.count(|m| {
                m.items_read += page.items.len() as u64;
                m.bytes_read += size;
                m.read_units += units(size, 4096) * read_cost(read);
            });
        }
        r
    }

    async fn batch_get_item(&self, table: &str, keys: Vec<Item>, read: Read) -> Result<BatchGot, DynamoError> {
        self.count(|m| m.batch_get_item += 1);
        let r = self.inner.batch_get_item(table, keys, read).await;
        if let Ok(got) = &r {
            self.read(&got.items.iter().collect::<Vec<_>>(), read);
        }
        r
    }

    async fn batch_write_item(&self, table: &str, writes: Vec<Write>) -> Result<Vec<Write>, DynamoError> {
        self.count(|m| m.batch_write_item += 1);
        self.wrote(
            writes.iter().map(|w| match w {
                Write::Put(item) | Write::Delete(item) => item_size(item),
            }),
            1.0,
        );
        self.inner.batch_write_item(table, writes).await
    }

    async fn transact_write_items(&self, table: &str, items: Vec<TransactItem>) -> Result<(), DynamoError> {
        self.count(|m| m.transact_write_items += 1);
        self.wrote(
            items.iter().map(|t| match t {
                TransactItem::Put(p) => item_size(&p.item),
                TransactItem::Update(u) => update_size(u),
                TransactItem::Delete(d) => item_size(&d.key),
                TransactItem::Check { key, .. } => item_size(key),
            }),
            2.0,
        );
        self.inner.transact_write_items(table, items).await
    }
}

/// Read units per 4 KB: a whole one for a consistent read, half for an eventual one.
fn read_cost(read: Read) -> f64 {
    match read {
        Read::Consistent => 1.0,
        Read::Eventual => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let item: Item = [
            ("pk".to_string(), AttributeValue::S("RUN#a".into())),
            ("v".to_string(), AttributeValue::N("12345".into())),
            ("ok".to_string(), AttributeValue::Bool(true)),
        ]
        .into_iter()
        .collect();
        assert_eq!(item_size(&item), (2 + 5) + (1 + 4) + (2 + 1));
        assert_eq!(units(0, 1024), 1.0, "every write costs at least one unit");
        assert_eq!(units(1025, 1024), 2.0);
    }
}

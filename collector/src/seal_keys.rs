//! The sealing keys of Tier 3 opt-ins, and the opening of sealed batches.
//!
//! The consent API makes a key per opt-in ([`SealKeys::mint`]): a random id
//! and salt go into `{ledger}.seal_keys` beside the customer's subject, and
//! the key derived from them with the collector's secret goes into the
//! token (the edge seals with it). Nothing stores the key itself. The
//! writer opens the sealed identities of a chunk of batches with one
//! lookup ([`SealKeys::lookup`], [`open`]). An erasure deletes the
//! customer's rows here: their keys can never be derived again, so what a
//! queue, a dead-letter queue or a spool still holds of them is noise, and
//! a batch redelivered afterwards keeps only its de-identified copy.

use std::collections::HashMap;

use clickhouse::Row;
use mintmark_protocol::seal::{self, KEY_BYTES};
use mintmark_protocol::wire::EdgeBatch;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::pseudonym::Pseudonyms;

#[derive(Row, Serialize, Deserialize)]
struct Stored {
    created_at: u32,
    kid: String,
    subject: String,
    salt: String,
}

#[derive(Row, Deserialize)]
struct Found {
    kid: String,
    salt: String,
}

/// `{ledger}.seal_keys` and the secret keys are derived with.
#[derive(Clone)]
pub struct SealKeys {
    client: clickhouse::Client,
    table: String,
    ids: Pseudonyms,
}

/// A minted key: its id and the key, for the token.
pub struct Minted {
    pub kid: String,
    pub key: [u8; KEY_BYTES],
}

/// What opening a batch's seal came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Nothing was sealed (below Tier 3).
    Nothing,
    /// The identity and full address are back in the batch.
    Open,
    /// The key is gone (an erasure) or never existed: the batch keeps only
    /// its de-identified copy.
    KeyGone,
    /// The seal does not open with its key: altered in a queue.
    Damaged,
}

impl Opened {
    /// A metric label for a seal that did not open.
    pub fn failure(self) -> Option<&'static str> {
        match self {
            Opened::KeyGone => Some("key_gone"),
            Opened::Damaged => Some("damaged"),
            Opened::Nothing | Opened::Open => None,
        }
    }
}

impl SealKeys {
    pub fn new(client: clickhouse::Client, ledger: &str, ids: Pseudonyms) -> SealKeys {
        SealKeys { client, table: format!("{ledger}.seal_keys"), ids }
    }

    /// A new key for an opt-in of `subject`, stored (as its salt) before
    /// it is returned.
    pub async fn mint(&self, subject: &str, now: u32) -> clickhouse::error::Result<Minted> {
        let (mut kid, mut salt) = ([0u8; 16], [0u8; 32]);
        rand::rng().fill_bytes(&mut kid);
        rand::rng().fill_bytes(&mut salt);
        let row = Stored { created_at: now, kid: hex::encode(kid), subject: subject.to_string(), salt: hex::encode(salt) };
        let mut insert = self.client.insert_unescaped::<Stored>(&self.table).await?;
        insert.write(&row).await?;
        insert.end().await?;
        Ok(Minted { key: self.ids.seal_key(&row.kid, &salt), kid: row.kid })
    }

    /// The keys of `kids` that still exist.
    pub async fn lookup(&self, kids: &[&str]) -> clickhouse::error::Result<HashMap<String, [u8; KEY_BYTES]>> {
        if kids.is_empty() {
            return Ok(HashMap::new());
        }
        let found: Vec<Found> = self.client.query(&format!("SELECT kid, salt FROM {} WHERE has(?, kid)", self.table)).bind(kids).fetch_all().await?;
        Ok(found
            .into_iter()
            .filter_map(|f| {
                let salt = hex::decode(&f.salt).ok()?;
                let key = self.ids.seal_key(&f.kid, &salt);
                Some((f.kid, key))
            })
            .collect())
    }
}

/// The key ids a chunk of batches needs.
pub fn kids<'a>(batches: impl IntoIterator<Item = &'a EdgeBatch>) -> Vec<&'a str> {
    let mut out: Vec<&str> = batches.into_iter().filter_map(|b| b.sealed.as_deref().and_then(seal::kid)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Opens `batch`'s seal with `keys`: the identity and full address go back
/// into it (in memory only), or, without its key, the batch stays sealed
/// out and makes no Tier 3 row.
pub fn open(batch: &mut EdgeBatch, keys: &HashMap<String, [u8; KEY_BYTES]>) -> Opened {
    let Some(sealed) = batch.sealed.take() else {
        return Opened::Nothing;
    };
    let Some(key) = seal::kid(&sealed).and_then(|kid| keys.get(kid)) else {
        return Opened::KeyGone;
    };
    match seal::open(key, &sealed) {
        Ok(opened) => {
            batch.identity = Some(opened.identity);
            batch.ip = opened.ip;
            Opened::Open
        }
        Err(_) => Opened::Damaged,
    }
}

//! Purges with evidence. [`erasure`] carries out erasure requests (an
//! account cancelled): every Tier 3 row of the customer is deleted and the
//! purge log says what was found, what is left (nothing) and how.

pub mod erasure;

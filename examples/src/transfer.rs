//! The seed's funds-transfer saga: debit, then credit; a terminal failure of
//! the credit refunds the debit.

use ironflow::prelude::*;

/// A transfer was requested.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "transfer.requested", version = 1)]
pub struct TransferRequested {
    /// Account debited.
    pub from_account: String,
    /// Account credited.
    pub to_account: String,
    /// Amount in cents.
    pub amount_cents: u64,
}

/// A ledger entry reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Ledger reference.
    pub reference: String,
}

/// What the transfer returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Debit reference.
    pub debit_ref: String,
    /// Credit reference.
    pub credit_ref: String,
}

/// Stand-in ledger.
pub mod ledger {
    use super::Entry;

    /// Debits an account.
    pub async fn debit(account: &str, amount_cents: u64) -> ironflow::Result<Entry> {
        Ok(Entry {
            reference: format!("D-{account}-{amount_cents}"),
        })
    }

    /// Credits an account.
    pub async fn credit(account: &str, amount_cents: u64) -> ironflow::Result<Entry> {
        if account.is_empty() {
            return Err(ironflow::Error::terminal("unknown account"));
        }
        Ok(Entry {
            reference: format!("C-{account}-{amount_cents}"),
        })
    }
}

/// Moves money between two accounts as a saga.
#[ironflow::function(
    id = "transfer-funds",
    trigger = "transfer.requested",
    retry(max_attempts = 3)
)]
pub async fn transfer_funds(ctx: Ctx<TransferRequested>) -> ironflow::Result<Transfer> {
    let t = ctx.event().data.clone();
    let debit: Entry = ctx
        .run("debit", || ledger::debit(&t.from_account, t.amount_cents))
        .await?;
    let (from, amount) = (t.from_account.clone(), t.amount_cents);
    ctx.compensate("debit", move || async move {
        ledger::credit(&from, amount).await
    });

    let credit: Entry = ctx
        .run("credit", || ledger::credit(&t.to_account, t.amount_cents))
        .await?;
    let (to, amount) = (t.to_account.clone(), t.amount_cents);
    ctx.compensate(
        "credit",
        move || async move { ledger::debit(&to, amount).await },
    );

    Ok(Transfer {
        debit_ref: debit.reference,
        credit_ref: credit.reference,
    })
}

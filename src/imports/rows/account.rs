//! An account row of an import: the account, its customer, aliases and plan period.

use chrono::NaiveDate;

use super::*;
use crate::catalog::accounts::NewAccount;
use crate::catalog::customers::Address;
use crate::catalog::customers::NewCustomer;
use crate::catalog::{check_id, input, parse_currency, parse_timezone};

pub(super) fn account(c: &Cells, cx: &RowContext) -> Result<AccountRow, RowError> {
    let account_id = c.id("account_id")?;
    let customer_id = c.id("customer_id")?;
    let customer_name = c.optional("customer_name")?.map(str::to_string);
    let account_name = c.required("account_name")?;
    let code = c.required("invoice_currency")?;
    let currency = parse_currency("invoice_currency", code)
        .map_err(|e| RowError::at("invoice_currency", e.message))?;
    let code = currency.code().to_string();
    let account_name = account_name.to_string();
    if !cx.currencies.contains(&code) {
        return Err(RowError::at(
            "invoice_currency",
            format!(
                "{code} is not enabled for the organisation (enabled: {})",
                cx.currencies.join(", ")
            ),
        ));
    }
    let billing_emails = list(c.optional("billing_emails")?);
    let additional_emails = list(c.optional("additional_emails")?);
    let net_term_days = c
        .optional("net_term_days")?
        .map(|s| {
            s.parse::<u32>().map_err(|_| {
                RowError::at(
                    "net_term_days",
                    format!("{s:?} is not a number of days (0 or more)"),
                )
            })
        })
        .transpose()?;
    let timezone = c
        .optional("timezone")?
        .map(|s| {
            parse_timezone("timezone", s)
                .map(|tz| tz.name().to_string())
                .map_err(|e| RowError::at("timezone", e.message))
        })
        .transpose()?;
    let s = |col| c.optional(col).map(|v| v.map(str::to_string));
    let address = Address {
        line1: s("address_line1")?,
        line2: s("address_line2")?,
        postal_code: s("postal_code")?,
        city: s("city")?,
        state: s("state")?,
        country: s("country")?,
    };
    // The catalog's one check of a customer and of an account, as `customer create`
    // and `account create` make it; its Togai field names become our columns.
    let column = |path: &str, of_customer: bool| -> String {
        let path = path.split('[').next().unwrap_or(path);
        match path {
            "id" if of_customer => "customer_id",
            "name" if of_customer => "customer_name",
            "id" => "account_id",
            "customerId" => "customer_id",
            "name" => "account_name",
            "billingInformation.emailRecipients" => "billing_emails",
            "billingInformation.additionalEmailRecipients" => "additional_emails",
            "address.line1" => "address_line1",
            "address.line2" => "address_line2",
            "address.postalCode" => "postal_code",
            "address.city" => "city",
            "address.state" => "state",
            "address.country" => "country",
            other => other,
        }
        .to_string()
    };
    NewCustomer {
        id: customer_id.clone(),
        name: customer_name.clone().unwrap_or_else(|| customer_id.clone()),
        primary_email: None,
        address: None,
    }
    .validate()
    .map_err(|e| RowError::at(&column(&e.path, true), e.message))?;
    NewAccount {
        id: account_id.clone(),
        customer_id: customer_id.clone(),
        name: account_name.clone(),
        invoice_currency: currency,
        timezone: None,
        net_term_days,
        primary_email: None,
        billing_emails: billing_emails.clone(),
        additional_emails: additional_emails.clone(),
        address: Some(address.clone()),
    }
    .validate()
    .map_err(|e| RowError::at(&column(&e.path, false), e.message))?;
    let mut aliases = list(c.optional("aliases")?);
    if aliases.len() > input::MAX_ALIASES {
        return Err(RowError::at(
            "aliases",
            format!(
                "{} aliases, at most {} are allowed",
                aliases.len(),
                input::MAX_ALIASES
            ),
        ));
    }
    for a in &aliases {
        check_id("aliases", a).map_err(|e| RowError::at("aliases", e.message))?;
    }
    aliases.sort_unstable();
    aliases.dedup();
    let plan_id = c.optional("plan_id")?;
    let version = c
        .optional("plan_version")?
        .map(|v| match v.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(RowError::at(
                "plan_version",
                format!("{v:?} is not a plan version (1, 2, ...)"),
            )),
        })
        .transpose()?;
    let from = c
        .optional("plan_from")?
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                RowError::at(
                    "plan_from",
                    format!("{v:?} is not a date: expected YYYY-MM-DD"),
                )
            })
        })
        .transpose()?;
    let plan = match (plan_id, from) {
        (Some(p), Some(from)) => {
            check_id("plan_id", p).map_err(|e| RowError::at("plan_id", e.message))?;
            Some(PlanRef {
                plan_id: p.to_string(),
                version,
                from,
            })
        }
        (Some(_), None) => {
            return Err(RowError::at(
                "plan_from",
                "is empty: the date the plan applies from is needed with plan_id",
            ))
        }
        (None, _) if version.is_some() || from.is_some() => {
            return Err(RowError::at(
                "plan_id",
                "is empty, but plan_version or plan_from is given",
            ))
        }
        (None, _) => None,
    };
    Ok(AccountRow {
        account_id,
        customer_id,
        customer_name,
        account_name,
        invoice_currency: code,
        billing_emails,
        additional_emails,
        net_term_days,
        timezone,
        address,
        aliases,
        plan,
    })
}

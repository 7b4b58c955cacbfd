"""Usage events through the official client: /ingest and /ingestBatch, their answers
(202, and 207 for a batch with a refused event) parsed as Togai's IngestEventResponse
(see common.py for how this script is run)."""

from datetime import datetime, timezone

from togai_client import (
    AccountsApi,
    CreateAccountRequest,
    CreateCustomerRequest,
    CustomersApi,
    EventIngestionApi,
    IngestBatchEventRequest,
    IngestEventRequest,
    IngestEventResponse,
)
from togai_client.models.address import Address
from togai_client.models.attribute import Attribute
from togai_client.models.event import Event

from common import check, client, refused

api = client()
CustomersApi(api).create_customer(CreateCustomerRequest(
    id="initech", name="Initech Corp", primary_email="billing@initech.test",
    address=Address(country="US")))
AccountsApi(api).create_account(CreateAccountRequest(
    id="initech-main", name="Initech main", customer_id="initech", invoice_currency="USD"))

ingestion = EventIngestionApi(api)


def event(id: str, account: str, calls: str) -> Event:
    return Event(
        schema_name="api",
        id=id,
        timestamp=datetime(2026, 1, 5, 10, 30, tzinfo=timezone.utc),
        account_id=account,
        attributes=[Attribute(name="calls", value=calls, unit="calls")],
        dimensions={"region": "eu"},
    )


one = ingestion.ingest(IngestEventRequest(event=event("ev-1", "initech-main", "12.5")))
check(isinstance(one, IngestEventResponse), f"ingest answer: {one!r}")
check(one.success is True and one.status_code == 202, f"ingest: {one!r}")
check(one.details["ingested"] == 1, f"ingest details: {one!r}")

batch = ingestion.ingest_batch_with_http_info(IngestBatchEventRequest(events=[
    event("ev-2", "initech-main", "1"),
    event("ev-3", "initech-main", "2"),
]))
check(batch.status_code == 202, f"batch status: {batch.status_code}")
check(batch.data.success is True and batch.data.details["ingested"] == 2, f"batch: {batch.data!r}")

partial = ingestion.ingest_batch_with_http_info(IngestBatchEventRequest(events=[
    event("ev-4", "initech-main", "3"),
    event("ev-5", "nobody", "4"),
    event("ev-1", "initech-main", "12.5"),
]))
check(partial.status_code == 207, f"partial status: {partial.status_code}")
d = partial.data.details
check(partial.data.success is False, f"partial: {partial.data!r}")
check((d["ingested"], d["duplicates"], d["failed"]) == (1, 1, 1), f"partial counts: {d!r}")
failure = d["failures"][0]
check(failure["index"] == 1 and failure["id"] == "ev-5", f"failure: {failure!r}")
check(failure["status"] == "INGESTION_FAILED_ACCOUNT_NOT_FOUND", f"failure: {failure!r}")

e = refused(400, ingestion.ingest, IngestEventRequest(event=event("ev-6", "nobody", "1")))
check("nobody" in e.body, f"refusal: {e.body}")
print("ingest: ok")

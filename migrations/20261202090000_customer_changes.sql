-- Customers that change (PATCH /customers/{id}, `billrun customer update`) and their
-- contacts (POST /customers/{id}/contacts).
--
-- `updated_at` is the last change through billrun's update (NULL: never changed, the
-- customer is as created).
ALTER TABLE customers ADD COLUMN updated_at TIMESTAMPTZ NULL;

-- A customer's contacts: people to reach at the customer (Togai's contacts). billrun
-- has no customer portal, so a contact cannot log in and has no password; invoices are
-- emailed to the account's billing emails, never to contacts. Deleted with their
-- customer.
CREATE TABLE customer_contacts (
    org_id             TEXT        NOT NULL,
    -- Togai's `username`: the preferredUsername when given, else made up (ct_<ulid>).
    username           TEXT        NOT NULL,
    customer_id        TEXT        NOT NULL,
    preferred_username TEXT        NULL,
    name               TEXT        NOT NULL,
    email              TEXT        NOT NULL,
    phone              TEXT        NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT customer_contacts_pkey PRIMARY KEY (org_id, username),
    CONSTRAINT customer_contacts_email_key UNIQUE (org_id, customer_id, email),
    CONSTRAINT customer_contacts_customer_fk FOREIGN KEY (org_id, customer_id)
        REFERENCES customers (org_id, id)
);

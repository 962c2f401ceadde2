-- The dealership's existing customer a new lead belongs to: the one this lead made before (a load
-- run again), then by document, e-mail, mobile phone, phone (either phone column); the lowest id wins
-- within a key. NULL: none, the lead makes a customer. gmcrm.load_dealer matches with it both the
-- leads it takes one at a time and the rest in one statement, so the two paths cannot drift apart.
-- STABLE: it sees the snapshot of the statement that calls it (the customers made before it).
CREATE OR REPLACE FUNCTION gmcrm.match_customer(
    p_dealer           text,
    p_lead_id          text,
    p_document         text,
    p_email_key        text,
    p_mobile_phone_key text,
    p_phone_key        text
) RETURNS bigint
    LANGUAGE sql
    STABLE
    AS $$
    SELECT coalesce(
        (SELECT c.id FROM dms.customer c WHERE c.created_from_lead_id = p_lead_id),
        (SELECT min(c.id) FROM dms.customer c
         WHERE c.dealer_code = p_dealer AND p_document IS NOT NULL AND c.document_key = p_document),
        (SELECT min(c.id) FROM dms.customer c
         WHERE c.dealer_code = p_dealer AND p_email_key IS NOT NULL AND c.email_key = p_email_key),
        (SELECT min(c.id) FROM dms.customer c
         WHERE c.dealer_code = p_dealer AND p_mobile_phone_key IS NOT NULL
           AND (c.mobile_phone_key = p_mobile_phone_key OR c.phone_key = p_mobile_phone_key)),
        (SELECT min(c.id) FROM dms.customer c
         WHERE c.dealer_code = p_dealer AND p_phone_key IS NOT NULL
           AND (c.phone_key = p_phone_key OR c.mobile_phone_key = p_phone_key)));
    $$;

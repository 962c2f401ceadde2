-- The dealership's existing customer a new lead belongs to: the one this lead made before (a load
-- run again), then by document, e-mail, mobile phone, phone (either phone column); the lowest id wins
-- within a key. NULL: none, the lead makes a customer. gmcrm.load_dealer matches with it both the
-- leads it takes one at a time and the rest in one statement, so the two paths cannot drift apart.
-- STABLE: it sees the snapshot of the statement that calls it (the customers made before it).
-- A phone key is looked up in each of the two phone indexes and the lower id kept (least() of two
-- index scans): the same customer as one bitmap scan of both, without a bitmap per lead (issue 11:
-- load_dealer's CPU per lead fell about 15 % when the match was written inline); a phone equal to the
-- mobile is not looked up twice.
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
        CASE WHEN p_mobile_phone_key IS NOT NULL THEN least(
            (SELECT min(c.id) FROM dms.customer c
             WHERE c.dealer_code = p_dealer AND c.mobile_phone_key = p_mobile_phone_key),
            (SELECT min(c.id) FROM dms.customer c
             WHERE c.dealer_code = p_dealer AND c.phone_key = p_mobile_phone_key)) END,
        CASE WHEN p_phone_key IS DISTINCT FROM p_mobile_phone_key AND p_phone_key IS NOT NULL THEN least(
            (SELECT min(c.id) FROM dms.customer c
             WHERE c.dealer_code = p_dealer AND c.phone_key = p_phone_key),
            (SELECT min(c.id) FROM dms.customer c
             WHERE c.dealer_code = p_dealer AND c.mobile_phone_key = p_phone_key)) END);
    $$;

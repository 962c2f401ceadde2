-- Distribution to the active users of the contacts' dealership picked by sales team and/or seller
-- origin (the filters of the manual's user selection); NULL filters match everyone.
CREATE OR REPLACE FUNCTION dms.distribute_contacts_by(
    p_contact_ids   bigint[],
    p_sales_team    text DEFAULT NULL,
    p_seller_origin text DEFAULT NULL
) RETURNS TABLE (contact_id bigint, user_id bigint)
    LANGUAGE plpgsql
    AS $$
    #variable_conflict use_column
    DECLARE
        dealers text[];
        users   bigint[];
    BEGIN
        SELECT array_agg(DISTINCT ct.dealer_code) INTO dealers FROM dms.contact ct WHERE ct.id = ANY (p_contact_ids);
        IF coalesce(array_length(dealers, 1), 0) <> 1 THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC10',
                MESSAGE = format('Distribua contatos de uma revenda por vez / distribute contacts of one dealership '
                                 'at a time (found: %s)', coalesce(array_to_string(dealers, ', '), 'none'));
        END IF;
        SELECT array_agg(u.id ORDER BY u.id) INTO users
        FROM dms.app_user u
        WHERE u.dealer_code = dealers[1] AND u.active
          AND (p_sales_team IS NULL OR u.sales_team = p_sales_team)
          AND (p_seller_origin IS NULL OR u.seller_origin = p_seller_origin);
        IF users IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC11',
                MESSAGE = format('Nenhum usuário ativo da revenda %s com time de vendas %s e origem %s / no active '
                                 'user matches', dealers[1], coalesce(p_sales_team, '(qualquer)'),
                                 coalesce(p_seller_origin, '(qualquer)'));
        END IF;
        RETURN QUERY SELECT d.contact_id, d.user_id FROM dms.distribute_contacts(p_contact_ids, users) AS d;
    END
    $$;

-- ---------------------------------------------------------------------------------------------
-- Distribution (manual: "Distribuir Contatos"): selected contacts awaiting distribution go to the
-- selected users, spread evenly (round-robin in contact id order, users in the order given).
-- Each goes to IN_QUEUE with its user, records LAT (lead contacts), and a parts contact gets its
-- counter service in the salesperson's name and an internal mail telling the salesperson.
CREATE OR REPLACE FUNCTION dms.distribute_contacts(p_contact_ids bigint[], p_user_ids bigint[])
    RETURNS TABLE (contact_id bigint, user_id bigint)
    LANGUAGE plpgsql
    AS $$
    #variable_conflict use_column
    DECLARE
        users   bigint[];
        n_users integer;
        bad     text;
        dealers text[];
        r       record;
        i       integer := 0;
        pcs_id  bigint;
    BEGIN
        -- Users in the order given, each once.
        SELECT array_agg(u ORDER BY first_pos) INTO users
        FROM (SELECT u, min(pos) AS first_pos
              FROM unnest(p_user_ids) WITH ORDINALITY AS t(u, pos) WHERE u IS NOT NULL GROUP BY u) AS d;
        n_users := coalesce(array_length(users, 1), 0);
        IF coalesce(array_length(p_contact_ids, 1), 0) = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC10',
                MESSAGE = 'Nenhum contato selecionado para distribuir / no contact selected to distribute';
        END IF;
        IF n_users = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC11',
                MESSAGE = 'Nenhum usuário selecionado para receber os contatos / no user selected to receive the contacts';
        END IF;

        -- Lock the selection so two people distributing at once cannot both hand out a contact.
        PERFORM 1 FROM dms.contact ct WHERE ct.id = ANY (p_contact_ids) ORDER BY ct.id FOR UPDATE;

        SELECT string_agg(format('%s (%s)', sel.id, coalesce(ct.status, 'não existe / does not exist')), ', '
                          ORDER BY sel.id)
        INTO bad
        FROM (SELECT DISTINCT unnest(p_contact_ids) AS id) AS sel
        LEFT JOIN dms.contact ct ON ct.id = sel.id
        WHERE ct.status IS DISTINCT FROM 'AWAITING_DISTRIBUTION';
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC10',
                MESSAGE = 'Contatos que não aguardam distribuição / contacts not awaiting distribution: ' || bad,
                HINT = 'Select only contacts in status AWAITING_DISTRIBUTION; nothing was distributed.';
        END IF;

        SELECT array_agg(DISTINCT ct.dealer_code) INTO dealers FROM dms.contact ct WHERE ct.id = ANY (p_contact_ids);
        SELECT string_agg(format('%s (%s)', sel.id,
                                 CASE WHEN u.id IS NULL THEN 'não existe / does not exist'
                                      WHEN NOT u.active THEN 'inativo / inactive'
                                      ELSE 'revenda / dealership ' || u.dealer_code END), ', ' ORDER BY sel.id)
        INTO bad
        FROM unnest(users) AS sel(id)
        LEFT JOIN dms.app_user u ON u.id = sel.id
        WHERE u.id IS NULL OR NOT u.active OR NOT (u.dealer_code = ANY (dealers))
           OR array_length(dealers, 1) > 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC11',
                MESSAGE = format('Usuários inválidos para contatos da revenda %s / users that cannot receive '
                                 'contacts of dealership %s: %s',
                                 array_to_string(dealers, ', '), array_to_string(dealers, ', '), bad),
                HINT = 'Pick active users of the contacts'' own dealership, and contacts of one dealership at a time; '
                       'nothing was distributed.';
        END IF;

        FOR r IN
            SELECT ct.id, ct.dealer_code, ct.customer_id, ct.lead_id, ct.lead_type, ct.contact_form_id,
                   cu.name AS customer_name
            FROM dms.contact ct JOIN dms.customer cu ON cu.id = ct.customer_id
            WHERE ct.id = ANY (p_contact_ids)
            ORDER BY ct.id
        LOOP
            contact_id := r.id;
            user_id := users[(i % n_users) + 1];
            i := i + 1;

            -- The department follows the receiving user, except for used vehicles, whose department
            -- comes from the settings (dms.md).
            UPDATE dms.contact ct
            SET status = 'IN_QUEUE',
                assigned_user_id = user_id,
                department_id = CASE WHEN ct.lead_type = 'USED_VEHICLE' THEN ct.department_id
                                     ELSE coalesce((SELECT u.department_id FROM dms.app_user u WHERE u.id = user_id),
                                                   ct.department_id) END
            WHERE ct.id = r.id;

            PERFORM gmcrm.record_trigger('LAT', r.id, 'distribution', 'dms.contact', r.id, p_user_id => user_id);

            IF r.lead_type = 'PARTS' THEN
                INSERT INTO dms.parts_counter_service AS s
                    (dealer_code, contact_id, customer_id, salesperson_user_id, contact_form_id)
                VALUES (r.dealer_code, r.id, r.customer_id, user_id, r.contact_form_id)
                ON CONFLICT (contact_id) DO UPDATE SET salesperson_user_id = EXCLUDED.salesperson_user_id
                    WHERE s.status = 'OPEN'
                RETURNING s.id INTO pcs_id;
                IF pcs_id IS NULL THEN
                    SELECT s.id INTO pcs_id FROM dms.parts_counter_service s WHERE s.contact_id = r.id;
                END IF;
                INSERT INTO dms.internal_mail (dealer_code, to_user_id, contact_id, subject, body)
                VALUES (r.dealer_code, user_id, r.id,
                        format('Novo atendimento balcão %s: contato %s (Lead GM de peças)', pcs_id, r.id),
                        format('O contato %s de %s foi distribuído para você. Foi gerado o atendimento balcão %s '
                               'na sua fila (Peças > Atendimento Balcão); chame-o pelo número do contato.%s',
                               r.id, r.customer_name, pcs_id,
                               coalesce(' Lead ID GM: ' || r.lead_id || '.', '')));
            END IF;
            RETURN NEXT;
        END LOOP;
    END
    $$;

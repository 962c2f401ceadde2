-- The trade-in of a proposal as the outbox carries it: a snapshot taken when it is attached, so a
-- later edit does not rewrite what an earlier event said. The version (TRIN) comes from the
-- model's version field when the appraisal names a catalogue model.
CREATE OR REPLACE FUNCTION dms.proposal_trade_in(p dms.proposal) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN p.trade_in_model_id IS NULL AND p.trade_in_model IS NULL THEN NULL ELSE
        jsonb_build_object(
            'model_id', p.trade_in_model_id,
            'model', coalesce(vm.description, p.trade_in_model),
            'model_year', coalesce(p.trade_in_model_year, vm.model_year),
            'trim', coalesce(vm.version, p.trade_in_version),
            'mileage', p.trade_in_mileage,
            'plate', p.trade_in_plate,
            'value', p.trade_in_value)
    END
    FROM (SELECT 1) AS one
    LEFT JOIN dms.vehicle_model vm ON vm.id = p.trade_in_model_id
    $$;

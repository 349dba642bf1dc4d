-- A notification's parameters: the names and figures it speaks of (an
-- organization's name, an amount and its unit, a grant's purpose), as a
-- flat JSON object of strings, so that the pages say it in each person's
-- language from their catalogues. message stays the English text the JSON
-- API returns. Notifications written before this migration have none and
-- are shown by their message.
ALTER TABLE notifications ADD COLUMN params JSONB;
ALTER TABLE notifications ADD CONSTRAINT notifications_params CHECK (
    params IS NULL OR (jsonb_typeof(params) = 'object' AND length(params::TEXT) <= 8000));

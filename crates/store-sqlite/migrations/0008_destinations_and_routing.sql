-- Version 8: calls reach agents. An agent's destination (a sip:, sips:, wss:// or tel: URI)
-- and a number's routing policy (canonical JSON; NULL: the inbound agent takes every call).
ALTER TABLE agents ADD COLUMN destination TEXT;
ALTER TABLE phone_numbers ADD COLUMN routing TEXT;

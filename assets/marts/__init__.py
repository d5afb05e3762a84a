"""The marts: the fact table and its proofs (`facts`), and the insight marts read from it (`insights`)."""

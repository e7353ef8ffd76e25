"""Printed referral letters: bilingual PDF/A-3b with the referral embedded, and their import."""

"""Referrals to rehabilitation centres: the centre directory, and the demo data set."""

"""recon: reconcile Vipps MobilePay, Entur and Samtrafiken sales."""
__version__ = "0.1.0"

"""The phone-inspection story, generated on the fly and run end to end by ``inprod quickstart``."""

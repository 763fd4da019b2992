"""The core session every front end uses: a workspace for one repository and a long-lived
model session with its GPU monitor, context policy and calibration."""

"""Code sets: ICD-10-CM by date of service (``icd10cm``) and CPT/HCPCS facts (``cpt``).

Submodules are imported on demand; importing this package loads no data.
"""

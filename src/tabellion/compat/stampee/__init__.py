"""STAMPEE (French simple and registered e-letters), mounted at ``/compat/stampee``."""

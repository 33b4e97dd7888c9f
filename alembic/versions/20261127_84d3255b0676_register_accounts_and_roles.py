"""register accounts and roles

Revision ID: 84d3255b0676
Revises: 
Create Date: 2026-11-27 16:54:20.674050
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '84d3255b0676'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=11), nullable=True),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('password_changed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('phone', name=op.f('uq_account_phone')),
    sa.UniqueConstraint('username', name=op.f('uq_account_username'))
    )
    op.create_table('community',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community')),
    sa.UniqueConstraint('slug', name=op.f('uq_community_slug'))
    )
    op.create_table('grid',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_grid_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid')),
    sa.UniqueConstraint('community_id', 'number', name=op.f('uq_grid_community_id_number'))
    )
    with op.batch_alter_table('grid', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_community_id'), ['community_id'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=11), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('is_organisation', sa.Boolean(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_person_account_id_account')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_person_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('community_id', 'account_id', name=op.f('uq_person_community_id_account_id')),
    sa.UniqueConstraint('community_id', 'phone', name=op.f('uq_person_community_id_phone')),
    sa.UniqueConstraint('community_id', 'ref', name=op.f('uq_person_community_id_ref'))
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_person_community_id_name', ['community_id', 'name'], unique=False)

    op.create_table('register_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['account.id'], name=op.f('fk_register_change_actor_id_account')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_register_change_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_change'))
    )
    with op.batch_alter_table('register_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_change_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_change_community_id'), ['community_id'], unique=False)

    op.create_table('activation_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('used_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_activation_code_community_id_community')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_activation_code_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_activation_code_code_hash'))
    )
    with op.batch_alter_table('activation_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activation_code_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activation_code_person_id'), ['person_id'], unique=False)

    op.create_table('building',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_building_community_id_community')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_building_grid_id_grid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_building')),
    sa.UniqueConstraint('community_id', 'number', name=op.f('uq_building_community_id_number'))
    )
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_building_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_building_grid_id'), ['grid_id'], unique=False)

    op.create_table('role_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('granted_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_role_grant_account_id_account')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_role_grant_community_id_community')),
    sa.ForeignKeyConstraint(['granted_by'], ['account.id'], name=op.f('fk_role_grant_granted_by_account')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_role_grant_grid_id_grid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_grant')),
    sa.UniqueConstraint('community_id', 'account_id', 'role', 'grid_id', name=op.f('uq_role_grant_community_id_account_id_role_grid_id'))
    )
    with op.batch_alter_table('role_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_grant_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_role_grant_community_id'), ['community_id'], unique=False)

    op.create_table('unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('entrance', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('floor_area', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.CheckConstraint('floor_area > 0', name=op.f('ck_unit_floor_area_positive')),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_unit_building_id_building')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_unit_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit')),
    sa.UniqueConstraint('community_id', 'building_id', 'entrance', 'number', name=op.f('uq_unit_community_id_building_id_entrance_number'))
    )
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_building_id'), ['building_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_community_id'), ['community_id'], unique=False)

    op.create_table('unit_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('relation', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('since', sa.Date(), nullable=True),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('is_representative', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_unit_link_community_id_community')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_unit_link_person_id_person')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_unit_link_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_link')),
    sa.UniqueConstraint('community_id', 'unit_id', 'person_id', 'relation', name=op.f('uq_unit_link_community_id_unit_id_person_id_relation'))
    )
    with op.batch_alter_table('unit_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_link_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_link_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_link_unit_id'), ['unit_id'], unique=False)




def downgrade() -> None:
    
    with op.batch_alter_table('unit_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_link_unit_id'))
        batch_op.drop_index(batch_op.f('ix_unit_link_person_id'))
        batch_op.drop_index(batch_op.f('ix_unit_link_community_id'))

    op.drop_table('unit_link')
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_community_id'))
        batch_op.drop_index(batch_op.f('ix_unit_building_id'))

    op.drop_table('unit')
    with op.batch_alter_table('role_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_grant_community_id'))
        batch_op.drop_index(batch_op.f('ix_role_grant_account_id'))

    op.drop_table('role_grant')
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_grid_id'))
        batch_op.drop_index(batch_op.f('ix_building_community_id'))

    op.drop_table('building')
    with op.batch_alter_table('activation_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activation_code_person_id'))
        batch_op.drop_index(batch_op.f('ix_activation_code_community_id'))

    op.drop_table('activation_code')
    with op.batch_alter_table('register_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_change_community_id'))
        batch_op.drop_index(batch_op.f('ix_register_change_at'))

    op.drop_table('register_change')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_community_id_name')
        batch_op.drop_index(batch_op.f('ix_person_community_id'))
        batch_op.drop_index(batch_op.f('ix_person_account_id'))

    op.drop_table('person')
    with op.batch_alter_table('grid', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_community_id'))

    op.drop_table('grid')
    op.drop_table('community')
    op.drop_table('account')

